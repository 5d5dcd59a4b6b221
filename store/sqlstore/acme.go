package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

// ACMESecret returns the named secret, storing fresh if there is none. The
// upsert makes every instance end up with the first value stored. With
// fresh nil it only reads, and a missing secret is ErrNotFound.
func (s *Store) ACMESecret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var v []byte
	if fresh == nil {
		err := s.conn.QueryRow(ctx, `SELECT value FROM acme_secrets WHERE name = ?`, name).Scan(&v)
		if notFound(err) {
			return nil, s.errorf("acme secret %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return nil, s.errorf("acme secret: %w", err)
		}
		return v, nil
	}
	// The insert waits for a concurrent one and inserts nothing after it;
	// the read, a statement later, sees whichever row committed first.
	v, err := inTx(ctx, s, func(tx Tx) ([]byte, error) {
		if _, err := tx.Exec(ctx, `INSERT INTO acme_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, Blob(fresh)); err != nil {
			return nil, err
		}
		var got []byte
		return got, tx.QueryRow(ctx, `SELECT value FROM acme_secrets WHERE name = ?`, name).Scan(&got)
	})
	if err != nil {
		return nil, s.errorf("acme secret: %w", err)
	}
	return v, nil
}

// UseNonces records nonces as used in one transaction, pipelined. The
// primary key refuses a second use on any instance; a nonce given twice
// in the batch is refused the second time by the same rule. On SQLite the
// key is (expires, nonce), which is unique exactly when the nonce is
// because a nonce's expiry is derived from the nonce itself (acme/nonce.go);
// hence ON CONFLICT without a target, which serves either key.
func (s *Store) UseNonces(ctx context.Context, uses []store.NonceUse) ([]error, error) {
	stmts := make([]Stmt, len(uses))
	for i, u := range uses {
		exp, err := ToNanos("nonce expiry", u.Expires)
		if err != nil {
			return nil, err
		}
		stmts[i] = Stmt{`INSERT INTO acme_nonces (nonce, expires) VALUES (?, ?) ON CONFLICT DO NOTHING`, []any{u.Nonce, exp}}
	}
	out, err := grouped(ctx, s, func(ctx context.Context, tx Tx) ([]error, error) {
		n, err := ExecAll(ctx, tx, stmts)
		if err != nil {
			return nil, err
		}
		out := make([]error, len(uses))
		for i := range uses {
			if n[i] != 1 {
				out[i] = fmt.Errorf("nonce already used: %w", store.ErrConflict)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, s.errorf("use nonces: %w", err)
	}
	return out, nil
}

// PruneNonces deletes used nonces that expired before now.
func (s *Store) PruneNonces(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.exec(ctx, `DELETE FROM acme_nonces WHERE expires < ?`, ClampNanos(now))
	if err != nil {
		return 0, s.errorf("prune nonces: %w", err)
	}
	return n, nil
}

// CreateEABKey stores an EAB key and its audit event.
func (s *Store) CreateEABKey(ctx context.Context, k store.EABKey, ev store.AuditEvent) error {
	at, err := ToNanos("created", k.CreatedAt)
	if err != nil {
		return err
	}
	_, err = grouped(ctx, s, func(ctx context.Context, tx Tx) (struct{}, error) {
		n, err := tx.Exec(ctx, `INSERT INTO acme_eab_keys (key_id, hmac, service, created_at, account_id, org) VALUES (?, ?, ?, ?, '', ?)
			ON CONFLICT (key_id) DO NOTHING`, k.KeyID, Blob(k.HMAC), k.Service, at, store.OrgOf(k.Org))
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, fmt.Errorf("EAB key %s exists: %w", k.KeyID, store.ErrConflict)
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("create EAB key: %w", err)
	}
	return nil
}

// EABKey returns one EAB key.
func (s *Store) EABKey(ctx context.Context, kid string) (store.EABKey, error) {
	var k store.EABKey
	var at int64
	err := s.conn.QueryRow(ctx, `SELECT key_id, hmac, service, created_at, account_id, org FROM acme_eab_keys WHERE key_id = ?`, kid).
		Scan(&k.KeyID, &k.HMAC, &k.Service, &at, &k.AccountID, &k.Org)
	if notFound(err) {
		return k, s.errorf("EAB key %q: %w", kid, store.ErrNotFound)
	}
	if err != nil {
		return k, s.errorf("EAB key: %w", err)
	}
	k.CreatedAt = FromNanos(at)
	return k, nil
}

// EABKeys returns every EAB key without its HMAC, oldest first.
func (s *Store) EABKeys(ctx context.Context) ([]store.EABKey, error) {
	rows, err := s.conn.Query(ctx, `SELECT key_id, service, created_at, account_id, org FROM acme_eab_keys ORDER BY created_at, key_id`)
	if err != nil {
		return nil, s.errorf("EAB keys: %w", err)
	}
	defer rows.Close()
	var out []store.EABKey
	for rows.Next() {
		var k store.EABKey
		var at int64
		if err := rows.Scan(&k.KeyID, &k.Service, &at, &k.AccountID, &k.Org); err != nil {
			return nil, s.errorf("EAB keys: %w", err)
		}
		k.CreatedAt = FromNanos(at)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeEABKey deletes an EAB key, revokes the account bound to it, and
// appends ev, in one transaction.
func (s *Store) RevokeEABKey(ctx context.Context, kid string, ev store.AuditEvent) (store.AccountID, error) {
	account, err := inTx(ctx, s, func(tx Tx) (store.AccountID, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return "", err
		}
		var account string
		err := tx.QueryRow(ctx, `DELETE FROM acme_eab_keys WHERE key_id = ? RETURNING account_id`, kid).Scan(&account)
		if notFound(err) {
			return "", fmt.Errorf("EAB key %q: %w", kid, store.ErrNotFound)
		}
		if err != nil {
			return "", err
		}
		if account != "" {
			if _, err := tx.Exec(ctx, `UPDATE acme_accounts SET status = 'revoked' WHERE id = ?`, account); err != nil {
				return "", err
			}
		}
		return store.AccountID(account), s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return "", s.errorf("revoke EAB key: %w", err)
	}
	return account, nil
}

// CreateAccount stores a new account, binding its EAB key if any.
func (s *Store) CreateAccount(ctx context.Context, a store.ACMEAccount, ev store.AuditEvent) error {
	at, err := ToNanos("created", a.CreatedAt)
	if err != nil {
		return err
	}
	contact, err := JSONList(a.Contact)
	if err != nil {
		return err
	}
	_, err = grouped(ctx, s, func(ctx context.Context, tx Tx) (struct{}, error) {
		if a.EABKeyID != "" {
			n, err := tx.Exec(ctx, `UPDATE acme_eab_keys SET account_id = ? WHERE key_id = ? AND account_id = ''`, a.ID, a.EABKeyID)
			if err != nil {
				return struct{}{}, err
			}
			if n != 1 {
				return struct{}{}, fmt.Errorf("EAB key %s is unknown or already bound: %w", a.EABKeyID, store.ErrConflict)
			}
		}
		n, err := tx.Exec(ctx, `INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, eab_key_id, service, created_at, org)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			a.ID, a.Thumbprint, Blob(a.JWK), a.Status, contact, a.EABKeyID, a.Service, at, store.OrgOf(a.Org))
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, fmt.Errorf("an account with this key exists: %w", store.ErrConflict)
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("create account: %w", err)
	}
	return nil
}

const accountColumns = `id, thumbprint, jwk, status, contact, eab_key_id, service, created_at, org`

func scanAccount(row Row) (store.ACMEAccount, error) {
	var a store.ACMEAccount
	var contact string
	var at int64
	if err := row.Scan(&a.ID, &a.Thumbprint, &a.JWK, &a.Status, &contact, &a.EABKeyID, &a.Service, &at, &a.Org); err != nil {
		return a, err
	}
	a.CreatedAt = FromNanos(at)
	if err := json.Unmarshal([]byte(contact), &a.Contact); err != nil {
		return a, fmt.Errorf("account %s: contact: %w", a.ID, err)
	}
	if len(a.Contact) == 0 {
		a.Contact = nil
	}
	return a, nil
}

// Account returns an account by ID.
func (s *Store) Account(ctx context.Context, id store.AccountID) (store.ACMEAccount, error) {
	return s.account(ctx, `id`, string(id))
}

// AccountByKey returns an account by key thumbprint.
func (s *Store) AccountByKey(ctx context.Context, thumbprint string) (store.ACMEAccount, error) {
	return s.account(ctx, `thumbprint`, thumbprint)
}

func (s *Store) account(ctx context.Context, column, v string) (store.ACMEAccount, error) {
	a, err := scanAccount(s.conn.QueryRow(ctx, `SELECT `+accountColumns+` FROM acme_accounts WHERE `+column+` = ?`, v))
	if notFound(err) {
		return a, s.errorf("account: %w", store.ErrNotFound)
	}
	if err != nil {
		return a, s.errorf("account: %w", err)
	}
	return a, nil
}

// UpdateAccount replaces status, contact and key, guarded by fromStatus.
func (s *Store) UpdateAccount(ctx context.Context, a store.ACMEAccount, fromStatus store.Status, ev store.AuditEvent) error {
	contact, err := JSONList(a.Contact)
	if err != nil {
		return err
	}
	_, err = grouped(ctx, s, func(ctx context.Context, tx Tx) (struct{}, error) {
		// The key change may collide with another account's key; the
		// savepoint keeps the transaction usable to report that.
		var n int64
		err := Savepoint(ctx, tx, func() error {
			var err error
			n, err = tx.Exec(ctx, `UPDATE acme_accounts SET status = ?, contact = ?, thumbprint = ?, jwk = ? WHERE id = ? AND status = ?`,
				a.Status, contact, a.Thumbprint, Blob(a.JWK), a.ID, fromStatus)
			return err
		})
		if s.d.IsUniqueViolation(err) {
			return struct{}{}, fmt.Errorf("the new key belongs to another account: %w", store.ErrConflict)
		}
		if err != nil {
			return struct{}{}, err
		}
		if err := guarded(ctx, tx, n, `acme_accounts`, a.ID); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("update account: %w", err)
	}
	return nil
}

// guarded turns a conditional UPDATE that changed no row into ErrNotFound
// or ErrConflict.
func guarded[ID ~string](ctx context.Context, tx Tx, n int64, table string, id ID) error {
	if n == 1 {
		return nil
	}
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one)
	if notFound(err) {
		return fmt.Errorf("%s %s: %w", table, id, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s %s changed meanwhile: %w", table, id, store.ErrConflict)
}

// CreateOrder stores an order and its authorizations, and marks the
// replaced certificate.
func (s *Store) CreateOrder(ctx context.Context, o store.ACMEOrder, authzs []store.ACMEAuthz) error {
	exp, err := ToNanos("expires", o.Expires)
	if err != nil {
		return err
	}
	at, err := ToNanos("created", o.CreatedAt)
	if err != nil {
		return err
	}
	stmts := []Stmt{{`INSERT INTO acme_orders (id, account_id, status, expires, created_at, replaces, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		[]any{o.ID, o.AccountID, o.Status, exp, at, o.Replaces, Blob(o.Data)}}}
	for _, a := range authzs {
		aexp, err := ToNanos("expires", a.Expires)
		if err != nil {
			return err
		}
		stmts = append(stmts, Stmt{`INSERT INTO acme_authzs (id, account_id, order_id, status, identifier, expires, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{a.ID, a.AccountID, o.ID, a.Status, a.Identifier, aexp, Blob(a.Data)}})
	}
	_, err = grouped(ctx, s, func(ctx context.Context, tx Tx) (struct{}, error) {
		if _, err := ExecAll(ctx, tx, stmts); err != nil {
			return struct{}{}, err
		}
		if o.Replaces == "" {
			return struct{}{}, nil
		}
		// Only checked here: the mark is set when the replacement is
		// finalized (updateOrder), so an order that fails blocks nothing.
		var by string
		err := tx.QueryRow(ctx, `SELECT replaced_by FROM acme_certificates WHERE serial = ?`, o.Replaces).Scan(&by)
		if notFound(err) {
			return struct{}{}, fmt.Errorf("certificate %s: %w", o.Replaces, store.ErrNotFound)
		}
		if err != nil {
			return struct{}{}, err
		}
		if by != "" {
			return struct{}{}, fmt.Errorf("certificate %s was replaced by order %s: %w", o.Replaces, by, store.ErrAlreadyReplaced)
		}
		return struct{}{}, nil
	})
	if err != nil {
		return s.errorf("create order: %w", err)
	}
	return nil
}

// Order returns one order.
func (s *Store) Order(ctx context.Context, id store.OrderID) (store.ACMEOrder, error) {
	var o store.ACMEOrder
	var exp, at int64
	err := s.conn.QueryRow(ctx, `SELECT id, account_id, status, expires, created_at, replaces, data FROM acme_orders WHERE id = ?`, id).
		Scan(&o.ID, &o.AccountID, &o.Status, &exp, &at, &o.Replaces, &o.Data)
	if notFound(err) {
		return o, s.errorf("order: %w", store.ErrNotFound)
	}
	if err != nil {
		return o, s.errorf("order: %w", err)
	}
	o.Expires, o.CreatedAt = FromNanos(exp), FromNanos(at)
	return o, nil
}

// OrderIDs lists an account's orders, oldest first.
func (s *Store) OrderIDs(ctx context.Context, accountID store.AccountID, after store.OrderID, limit int) ([]store.OrderID, error) {
	q := `SELECT id FROM acme_orders WHERE account_id = ? ORDER BY created_at, id`
	args := []any{accountID}
	if after != "" {
		q = `SELECT o.id FROM acme_orders o, acme_orders a WHERE a.id = ? AND o.account_id = ?
			AND (o.created_at, o.id) > (a.created_at, a.id) ORDER BY o.created_at, o.id`
		args = []any{after, accountID}
	}
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, s.errorf("order IDs: %w", err)
	}
	ids, err := collect(rows, func(r Rows) (store.OrderID, error) {
		var id store.OrderID
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, s.errorf("order IDs: %w", err)
	}
	return ids, nil
}

// UpdateOrder replaces status and data, guarded by fromStatus.
func (s *Store) UpdateOrder(ctx context.Context, o store.ACMEOrder, fromStatus store.Status) error {
	_, err := grouped(ctx, s, func(ctx context.Context, tx Tx) (struct{}, error) {
		return struct{}{}, updateOrder(ctx, tx, o, fromStatus)
	})
	if err != nil {
		return s.errorf("update order: %w", err)
	}
	return nil
}

func updateOrder(ctx context.Context, tx Tx, o store.ACMEOrder, fromStatus store.Status) error {
	n, err := tx.Exec(ctx, `UPDATE acme_orders SET status = ?, data = ? WHERE id = ? AND status = ?`, o.Status, Blob(o.Data), o.ID, fromStatus)
	if err != nil {
		return err
	}
	if err := guarded(ctx, tx, n, `acme_orders`, o.ID); err != nil || o.Replaces == "" {
		return err
	}
	switch o.Status {
	case "processing":
		n, err := tx.Exec(ctx, `UPDATE acme_certificates SET replaced_by = ? WHERE serial = ? AND replaced_by IN ('', ?)`, o.ID, o.Replaces, o.ID)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("certificate %s was replaced by another order: %w", o.Replaces, store.ErrAlreadyReplaced)
		}
	case "valid":
	default:
		_, err = tx.Exec(ctx, `UPDATE acme_certificates SET replaced_by = '' WHERE serial = ? AND replaced_by = ?`, o.Replaces, o.ID)
	}
	return err
}

// CompleteOrder updates the order and records its certificate.
func (s *Store) CompleteOrder(ctx context.Context, o store.ACMEOrder, fromStatus store.Status, c store.ACMECertificate) error {
	w := completeOrder(o, fromStatus, c)
	if err := s.conn.Grouped(ctx, w); err != nil {
		return s.errorf("complete order: %w", err)
	}
	return nil
}

// CompleteOrderAlong is CompleteOrder as a write for the certificate's
// own transaction.
func (s *Store) CompleteOrderAlong(o store.ACMEOrder, fromStatus store.Status, c store.ACMECertificate) store.Along {
	return completeOrder(o, fromStatus, c)
}

func completeOrder(o store.ACMEOrder, fromStatus store.Status, c store.ACMECertificate) TxWrite {
	return func(ctx context.Context, tx Tx) error {
		if err := updateOrder(ctx, tx, o, fromStatus); err != nil {
			return fmt.Errorf("complete order: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO acme_certificates (serial, account_id, order_id, replaced_by) VALUES (?, ?, ?, '')`,
			c.Serial, c.AccountID, c.OrderID)
		return err
	}
}

// CountOrders counts an account's orders created since: the rate limit
// counts what every instance created.
func (s *Store) CountOrders(ctx context.Context, accountID store.AccountID, since time.Time) (int, error) {
	var n int
	err := s.conn.QueryRow(ctx, `SELECT count(*) FROM acme_orders WHERE account_id = ? AND created_at >= ?`, accountID, ClampNanos(since)).Scan(&n)
	if err != nil {
		return 0, s.errorf("count orders: %w", err)
	}
	return n, nil
}

// PruneOrders deletes expired authorizations of expired orders, then
// expired orders without authorizations or certificate.
func (s *Store) PruneOrders(ctx context.Context, before time.Time, limit int) (int64, int64, error) {
	at := ClampNanos(before)
	type counts struct{ orders, authzs int64 }
	c, err := inTx(ctx, s, func(tx Tx) (counts, error) {
		var c counts
		n, err := tx.Exec(ctx, `DELETE FROM acme_authzs WHERE id IN (SELECT a.id FROM acme_authzs a JOIN acme_orders o ON o.id = a.order_id
			WHERE a.expires < ? AND o.expires < ? LIMIT ?)`, at, at, limit)
		if err != nil {
			return c, err
		}
		c.authzs = n
		n, err = tx.Exec(ctx, `DELETE FROM acme_orders WHERE id IN (SELECT o.id FROM acme_orders o WHERE o.expires < ?
			AND NOT EXISTS (SELECT 1 FROM acme_authzs a WHERE a.order_id = o.id)
			AND NOT EXISTS (SELECT 1 FROM acme_certificates c WHERE c.order_id = o.id) LIMIT ?)`, at, limit)
		if err != nil {
			return c, err
		}
		c.orders = n
		return c, nil
	})
	if err != nil {
		return 0, 0, s.errorf("prune orders: %w", err)
	}
	return c.orders, c.authzs, nil
}

// Authz returns one authorization.
func (s *Store) Authz(ctx context.Context, id store.AuthzID) (store.ACMEAuthz, error) {
	var a store.ACMEAuthz
	var exp int64
	err := s.conn.QueryRow(ctx, `SELECT id, account_id, order_id, status, identifier, expires, data FROM acme_authzs WHERE id = ?`, id).
		Scan(&a.ID, &a.AccountID, &a.OrderID, &a.Status, &a.Identifier, &exp, &a.Data)
	if notFound(err) {
		return a, s.errorf("authz: %w", store.ErrNotFound)
	}
	if err != nil {
		return a, s.errorf("authz: %w", err)
	}
	a.Expires = FromNanos(exp)
	return a, nil
}

// UpdateAuthz replaces status and data, guarded by fromStatus.
func (s *Store) UpdateAuthz(ctx context.Context, a store.ACMEAuthz, fromStatus store.Status) error {
	_, err := grouped(ctx, s, func(ctx context.Context, tx Tx) (struct{}, error) {
		n, err := tx.Exec(ctx, `UPDATE acme_authzs SET status = ?, data = ? WHERE id = ? AND status = ?`, a.Status, Blob(a.Data), a.ID, fromStatus)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, guarded(ctx, tx, n, `acme_authzs`, a.ID)
	})
	if err != nil {
		return s.errorf("update authz: %w", err)
	}
	return nil
}

// CountPendingAuthzs counts an account's unexpired pending authorizations.
func (s *Store) CountPendingAuthzs(ctx context.Context, accountID store.AccountID, now time.Time) (int, error) {
	var n int
	err := s.conn.QueryRow(ctx, `SELECT count(*) FROM acme_authzs WHERE account_id = ? AND status = 'pending' AND expires > ?`,
		accountID, ClampNanos(now)).Scan(&n)
	if err != nil {
		return 0, s.errorf("count authzs: %w", err)
	}
	return n, nil
}

// HasValidAuthz reports whether the account holds a valid, unexpired
// authorization for identifier.
func (s *Store) HasValidAuthz(ctx context.Context, accountID store.AccountID, identifier string, now time.Time) (bool, error) {
	var ok bool
	err := s.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM acme_authzs WHERE account_id = ? AND identifier = ? AND status = 'valid' AND expires > ?)`,
		accountID, identifier, ClampNanos(now)).Scan(&ok)
	if err != nil {
		return false, s.errorf("valid authz: %w", err)
	}
	return ok, nil
}

// ACMECertificate returns the ACME record of a certificate.
func (s *Store) ACMECertificate(ctx context.Context, serial string) (store.ACMECertificate, error) {
	var c store.ACMECertificate
	err := s.conn.QueryRow(ctx, `SELECT serial, account_id, order_id, replaced_by FROM acme_certificates WHERE serial = ?`, serial).
		Scan(&c.Serial, &c.AccountID, &c.OrderID, &c.ReplacedBy)
	if notFound(err) {
		return c, s.errorf("ACME certificate %s: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return c, s.errorf("ACME certificate: %w", err)
	}
	return c, nil
}
