package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

var _ store.ACMEStore = (*Store)(nil)

// ACMESecret returns the named secret, storing fresh if there is none.
func (s *Store) ACMESecret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var v []byte
	err := s.q.QueryRowContext(ctx, `SELECT value FROM acme_secrets WHERE name = ?`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite store: acme secret: %w", err)
	}
	if fresh == nil {
		return nil, fmt.Errorf("sqlite store: acme secret %q: %w", name, store.ErrNotFound)
	}
	v, err = withTx(ctx, s, func(tx *cachedTx) ([]byte, error) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO acme_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, blob(fresh)); err != nil {
			return nil, err
		}
		var got []byte
		return got, tx.QueryRowContext(ctx, `SELECT value FROM acme_secrets WHERE name = ?`, name).Scan(&got)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite store: acme secret: %w", err)
	}
	return v, nil
}

// UseNonces records nonces as used in one transaction.
func (s *Store) UseNonces(ctx context.Context, uses []store.NonceUse) ([]error, error) {
	exps := make([]int64, len(uses))
	for i, u := range uses {
		exp, err := toNanos("nonce expiry", u.Expires)
		if err != nil {
			return nil, err
		}
		exps[i] = exp
	}
	results, err := grouped(ctx, s, func(ctx context.Context, tx *cachedTx) ([]error, error) {
		out := make([]error, len(uses))
		for i, u := range uses {
			res, err := tx.ExecContext(ctx, `INSERT INTO acme_nonces (nonce, expires) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING`, u.Nonce, exps[i])
			if err != nil {
				return nil, err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				out[i] = fmt.Errorf("nonce already used: %w", store.ErrConflict)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite store: use nonces: %w", err)
	}
	return results, nil
}

// PruneNonces deletes used nonces that expired before now.
func (s *Store) PruneNonces(ctx context.Context, now time.Time) (int64, error) {
	n, err := withTx(ctx, s, func(tx *cachedTx) (int64, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM acme_nonces WHERE expires < ?`, clampNanos(now))
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite store: prune nonces: %w", err)
	}
	return n, nil
}

// CreateEABKey stores an EAB key and its audit event.
func (s *Store) CreateEABKey(ctx context.Context, k store.EABKey, ev store.AuditEvent) error {
	at, err := toNanos("created", k.CreatedAt)
	if err != nil {
		return err
	}
	_, err = grouped(ctx, s, func(ctx context.Context, tx *cachedTx) (struct{}, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO acme_eab_keys (key_id, hmac, service, created_at, account_id) VALUES (?, ?, ?, ?, '')`,
			k.KeyID, blob(k.HMAC), k.Service, at)
		if isUniqueViolation(err) {
			return struct{}{}, fmt.Errorf("EAB key %s exists: %w", k.KeyID, store.ErrConflict)
		}
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: create EAB key: %w", err)
	}
	return nil
}

// EABKey returns one EAB key.
func (s *Store) EABKey(ctx context.Context, kid string) (store.EABKey, error) {
	var k store.EABKey
	var at int64
	err := s.q.QueryRowContext(ctx, `SELECT key_id, hmac, service, created_at, account_id FROM acme_eab_keys WHERE key_id = ?`, kid).
		Scan(&k.KeyID, &k.HMAC, &k.Service, &at, &k.AccountID)
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("sqlite store: EAB key %q: %w", kid, store.ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("sqlite store: EAB key: %w", err)
	}
	k.CreatedAt = fromNanos(at)
	return k, nil
}

// EABKeys returns every EAB key without its HMAC, oldest first.
func (s *Store) EABKeys(ctx context.Context) ([]store.EABKey, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT key_id, service, created_at, account_id FROM acme_eab_keys ORDER BY created_at, key_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: EAB keys: %w", err)
	}
	defer rows.Close()
	var out []store.EABKey
	for rows.Next() {
		var k store.EABKey
		var at int64
		if err := rows.Scan(&k.KeyID, &k.Service, &at, &k.AccountID); err != nil {
			return nil, fmt.Errorf("sqlite store: EAB keys: %w", err)
		}
		k.CreatedAt = fromNanos(at)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeEABKey deletes an EAB key, revokes the account bound to it, and
// appends ev, in one transaction.
func (s *Store) RevokeEABKey(ctx context.Context, kid string, ev store.AuditEvent) (string, error) {
	account, err := withTx(ctx, s, func(tx *cachedTx) (string, error) {
		var account string
		err := tx.QueryRowContext(ctx, `SELECT account_id FROM acme_eab_keys WHERE key_id = ?`, kid).Scan(&account)
		if errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("EAB key %q: %w", kid, store.ErrNotFound)
		}
		if err != nil {
			return "", err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM acme_eab_keys WHERE key_id = ?`, kid); err != nil {
			return "", err
		}
		if account != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE acme_accounts SET status = 'revoked' WHERE id = ?`, account); err != nil {
				return "", err
			}
		}
		return account, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return "", fmt.Errorf("sqlite store: revoke EAB key: %w", err)
	}
	return account, nil
}

// CreateAccount stores a new account, binding its EAB key if any.
func (s *Store) CreateAccount(ctx context.Context, a store.ACMEAccount, ev store.AuditEvent) error {
	at, err := toNanos("created", a.CreatedAt)
	if err != nil {
		return err
	}
	contact, err := jsonList(a.Contact)
	if err != nil {
		return err
	}
	_, err = grouped(ctx, s, func(ctx context.Context, tx *cachedTx) (struct{}, error) {
		if a.EABKeyID != "" {
			res, err := tx.ExecContext(ctx, `UPDATE acme_eab_keys SET account_id = ? WHERE key_id = ? AND account_id = ''`, a.ID, a.EABKeyID)
			if err != nil {
				return struct{}{}, err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return struct{}{}, fmt.Errorf("EAB key %s is unknown or already bound: %w", a.EABKeyID, store.ErrConflict)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, eab_key_id, service, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Thumbprint, blob(a.JWK), a.Status, contact, a.EABKeyID, a.Service, at)
		if isUniqueViolation(err) {
			return struct{}{}, fmt.Errorf("an account with this key exists: %w", store.ErrConflict)
		}
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: create account: %w", err)
	}
	return nil
}

const accountColumns = `id, thumbprint, jwk, status, contact, eab_key_id, service, created_at`

func scanAccount(sc scanner) (store.ACMEAccount, error) {
	var a store.ACMEAccount
	var contact string
	var at int64
	if err := sc.Scan(&a.ID, &a.Thumbprint, &a.JWK, &a.Status, &contact, &a.EABKeyID, &a.Service, &at); err != nil {
		return a, err
	}
	a.CreatedAt = fromNanos(at)
	if err := json.Unmarshal([]byte(contact), &a.Contact); err != nil {
		return a, fmt.Errorf("account %s: contact: %w", a.ID, err)
	}
	if len(a.Contact) == 0 {
		a.Contact = nil
	}
	return a, nil
}

// Account returns an account by ID.
func (s *Store) Account(ctx context.Context, id string) (store.ACMEAccount, error) {
	return s.account(ctx, `id`, id)
}

// AccountByKey returns an account by key thumbprint.
func (s *Store) AccountByKey(ctx context.Context, thumbprint string) (store.ACMEAccount, error) {
	return s.account(ctx, `thumbprint`, thumbprint)
}

func (s *Store) account(ctx context.Context, column, v string) (store.ACMEAccount, error) {
	a, err := scanAccount(s.q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM acme_accounts WHERE `+column+` = ?`, v))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("sqlite store: account: %w", store.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("sqlite store: account: %w", err)
	}
	return a, nil
}

// UpdateAccount replaces status, contact and key, guarded by fromStatus.
func (s *Store) UpdateAccount(ctx context.Context, a store.ACMEAccount, fromStatus string, ev store.AuditEvent) error {
	contact, err := jsonList(a.Contact)
	if err != nil {
		return err
	}
	_, err = grouped(ctx, s, func(ctx context.Context, tx *cachedTx) (struct{}, error) {
		res, err := tx.ExecContext(ctx, `UPDATE acme_accounts SET status = ?, contact = ?, thumbprint = ?, jwk = ? WHERE id = ? AND status = ?`,
			a.Status, contact, a.Thumbprint, blob(a.JWK), a.ID, fromStatus)
		if isUniqueViolation(err) {
			return struct{}{}, fmt.Errorf("the new key belongs to another account: %w", store.ErrConflict)
		}
		if err != nil {
			return struct{}{}, err
		}
		if err := guarded(ctx, tx, res, `acme_accounts`, a.ID); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: update account: %w", err)
	}
	return nil
}

// guarded turns a conditional UPDATE that changed no row into ErrNotFound
// (no such row) or ErrConflict (the row's state moved on).
func guarded(ctx context.Context, tx *cachedTx, res sql.Result, table, id string) error {
	n, err := res.RowsAffected()
	if err != nil || n == 1 {
		return err
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
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
	exp, err := toNanos("expires", o.Expires)
	if err != nil {
		return err
	}
	at, err := toNanos("created", o.CreatedAt)
	if err != nil {
		return err
	}
	_, err = grouped(ctx, s, func(ctx context.Context, tx *cachedTx) (struct{}, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO acme_orders (id, account_id, status, expires, created_at, replaces, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			o.ID, o.AccountID, o.Status, exp, at, o.Replaces, blob(o.Data))
		if err != nil {
			return struct{}{}, err
		}
		for _, a := range authzs {
			aexp, err := toNanos("expires", a.Expires)
			if err != nil {
				return struct{}{}, err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO acme_authzs (id, account_id, order_id, status, identifier, expires, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				a.ID, a.AccountID, o.ID, a.Status, a.Identifier, aexp, blob(a.Data)); err != nil {
				return struct{}{}, err
			}
		}
		if o.Replaces == "" {
			return struct{}{}, nil
		}
		// Only checked here: the mark is set when the replacement is
		// finalized (updateOrder), so an order that fails blocks nothing.
		var by string
		err = tx.QueryRowContext(ctx, `SELECT replaced_by FROM acme_certificates WHERE serial = ?`, o.Replaces).Scan(&by)
		if errors.Is(err, sql.ErrNoRows) {
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
		return fmt.Errorf("sqlite store: create order: %w", err)
	}
	return nil
}

// Order returns one order.
func (s *Store) Order(ctx context.Context, id string) (store.ACMEOrder, error) {
	var o store.ACMEOrder
	var exp, at int64
	err := s.q.QueryRowContext(ctx, `SELECT id, account_id, status, expires, created_at, replaces, data FROM acme_orders WHERE id = ?`, id).
		Scan(&o.ID, &o.AccountID, &o.Status, &exp, &at, &o.Replaces, &o.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("sqlite store: order: %w", store.ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("sqlite store: order: %w", err)
	}
	o.Expires, o.CreatedAt = fromNanos(exp), fromNanos(at)
	return o, nil
}

// OrderIDs lists an account's orders, oldest first.
func (s *Store) OrderIDs(ctx context.Context, accountID, after string, limit int) ([]string, error) {
	q := `SELECT id FROM acme_orders WHERE account_id = ? ORDER BY created_at, id`
	args := []any{accountID}
	if after != "" {
		q = `SELECT o.id FROM acme_orders o, acme_orders a WHERE a.id = ? AND o.account_id = ?
			AND (o.created_at > a.created_at OR (o.created_at = a.created_at AND o.id > a.id)) ORDER BY o.created_at, o.id`
		args = []any{after, accountID}
	}
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: order IDs: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite store: order IDs: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// UpdateOrder replaces status and data, guarded by fromStatus.
func (s *Store) UpdateOrder(ctx context.Context, o store.ACMEOrder, fromStatus string) error {
	_, err := grouped(ctx, s, func(ctx context.Context, tx *cachedTx) (struct{}, error) {
		return struct{}{}, updateOrder(ctx, tx, o, fromStatus)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: update order: %w", err)
	}
	return nil
}

func updateOrder(ctx context.Context, tx *cachedTx, o store.ACMEOrder, fromStatus string) error {
	res, err := tx.ExecContext(ctx, `UPDATE acme_orders SET status = ?, data = ? WHERE id = ? AND status = ?`, o.Status, blob(o.Data), o.ID, fromStatus)
	if err != nil {
		return err
	}
	if err := guarded(ctx, tx, res, `acme_orders`, o.ID); err != nil || o.Replaces == "" {
		return err
	}
	switch o.Status {
	case "processing":
		res, err := tx.ExecContext(ctx, `UPDATE acme_certificates SET replaced_by = ? WHERE serial = ? AND replaced_by IN ('', ?)`, o.ID, o.Replaces, o.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("certificate %s was replaced by another order: %w", o.Replaces, store.ErrAlreadyReplaced)
		}
	case "valid":
	default:
		_, err = tx.ExecContext(ctx, `UPDATE acme_certificates SET replaced_by = '' WHERE serial = ? AND replaced_by = ?`, o.Replaces, o.ID)
	}
	return err
}

// CompleteOrder updates the order and records its certificate.
func (s *Store) CompleteOrder(ctx context.Context, o store.ACMEOrder, fromStatus string, c store.ACMECertificate) error {
	_, err := grouped(ctx, s, func(ctx context.Context, tx *cachedTx) (struct{}, error) {
		if err := updateOrder(ctx, tx, o, fromStatus); err != nil {
			return struct{}{}, err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO acme_certificates (serial, account_id, order_id, replaced_by) VALUES (?, ?, ?, '')`,
			c.Serial, c.AccountID, c.OrderID)
		return struct{}{}, err
	})
	if err != nil {
		return fmt.Errorf("sqlite store: complete order: %w", err)
	}
	return nil
}

// CountOrders counts an account's orders created since.
func (s *Store) CountOrders(ctx context.Context, accountID string, since time.Time) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM acme_orders WHERE account_id = ? AND created_at >= ?`, accountID, clampNanos(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: count orders: %w", err)
	}
	return n, nil
}

// PruneOrders deletes expired authorizations of expired orders, then
// expired orders without authorizations or certificate.
func (s *Store) PruneOrders(ctx context.Context, before time.Time, limit int) (int64, int64, error) {
	at := clampNanos(before)
	type counts struct{ orders, authzs int64 }
	c, err := withTx(ctx, s, func(tx *cachedTx) (counts, error) {
		var c counts
		res, err := tx.ExecContext(ctx, `DELETE FROM acme_authzs WHERE id IN (SELECT a.id FROM acme_authzs a JOIN acme_orders o ON o.id = a.order_id
			WHERE a.expires < ? AND o.expires < ? LIMIT ?)`, at, at, limit)
		if err != nil {
			return c, err
		}
		if c.authzs, err = res.RowsAffected(); err != nil {
			return c, err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM acme_orders WHERE id IN (SELECT o.id FROM acme_orders o WHERE o.expires < ?
			AND NOT EXISTS (SELECT 1 FROM acme_authzs a WHERE a.order_id = o.id)
			AND NOT EXISTS (SELECT 1 FROM acme_certificates c WHERE c.order_id = o.id) LIMIT ?)`, at, limit)
		if err != nil {
			return c, err
		}
		c.orders, err = res.RowsAffected()
		return c, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite store: prune orders: %w", err)
	}
	return c.orders, c.authzs, nil
}

// Authz returns one authorization.
func (s *Store) Authz(ctx context.Context, id string) (store.ACMEAuthz, error) {
	var a store.ACMEAuthz
	var exp int64
	err := s.q.QueryRowContext(ctx, `SELECT id, account_id, order_id, status, identifier, expires, data FROM acme_authzs WHERE id = ?`, id).
		Scan(&a.ID, &a.AccountID, &a.OrderID, &a.Status, &a.Identifier, &exp, &a.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("sqlite store: authz: %w", store.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("sqlite store: authz: %w", err)
	}
	a.Expires = fromNanos(exp)
	return a, nil
}

// UpdateAuthz replaces status and data, guarded by fromStatus.
func (s *Store) UpdateAuthz(ctx context.Context, a store.ACMEAuthz, fromStatus string) error {
	_, err := grouped(ctx, s, func(ctx context.Context, tx *cachedTx) (struct{}, error) {
		res, err := tx.ExecContext(ctx, `UPDATE acme_authzs SET status = ?, data = ? WHERE id = ? AND status = ?`, a.Status, blob(a.Data), a.ID, fromStatus)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, guarded(ctx, tx, res, `acme_authzs`, a.ID)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: update authz: %w", err)
	}
	return nil
}

// CountPendingAuthzs counts an account's unexpired pending authorizations.
func (s *Store) CountPendingAuthzs(ctx context.Context, accountID string, now time.Time) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM acme_authzs WHERE account_id = ? AND status = 'pending' AND expires > ?`,
		accountID, clampNanos(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: count authzs: %w", err)
	}
	return n, nil
}

// HasValidAuthz reports whether the account holds a valid, unexpired
// authorization for identifier.
func (s *Store) HasValidAuthz(ctx context.Context, accountID, identifier string, now time.Time) (bool, error) {
	var one int
	err := s.q.QueryRowContext(ctx, `SELECT 1 FROM acme_authzs WHERE account_id = ? AND identifier = ? AND status = 'valid' AND expires > ? LIMIT 1`,
		accountID, identifier, clampNanos(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite store: valid authz: %w", err)
	}
	return true, nil
}

// ACMECertificate returns the ACME record of a certificate.
func (s *Store) ACMECertificate(ctx context.Context, serial string) (store.ACMECertificate, error) {
	var c store.ACMECertificate
	err := s.q.QueryRowContext(ctx, `SELECT serial, account_id, order_id, replaced_by FROM acme_certificates WHERE serial = ?`, serial).
		Scan(&c.Serial, &c.AccountID, &c.OrderID, &c.ReplacedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("sqlite store: ACME certificate %s: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("sqlite store: ACME certificate: %w", err)
	}
	return c, nil
}
