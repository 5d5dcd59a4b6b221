package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vcc/vccpki/store"
)

const (
	certColumns = `serial, issuer, profile, requester, subject, names, not_before, not_after,
	der, crl_shard, revoked_at, revocation_reason`
	// InsertCertSQL is the engines' group-commit insert. ON CONFLICT DO
	// NOTHING: a duplicate serial inserts no row, which the batch sees in
	// the row count, without aborting the shared transaction.
	InsertCertSQL = `INSERT INTO certificates (` + certColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING`
)

// TxWrite is a write of the shared code to run inside an engine's
// transaction: a store.Along (InsertCertificateAlong) or a grouped write.
type TxWrite func(ctx context.Context, tx Tx) error

// StoreAlong marks TxWrite as a store.Along.
func (TxWrite) StoreAlong() {}

// RunAlong runs along, which must be a TxWrite this package made, in tx.
// Its failure wraps store.ErrAlongFailed.
func RunAlong(ctx context.Context, tx Tx, along store.Along) error {
	w, ok := along.(TxWrite)
	if !ok {
		return fmt.Errorf("%w: %T is no write of this store", store.ErrAlongFailed, along)
	}
	if err := w(ctx, tx); err != nil {
		return fmt.Errorf("%w: %w", store.ErrAlongFailed, err)
	}
	return nil
}

// InsertCertificateAlong records c, ev and along in a transaction of
// their own, for an engine whose group commit cannot carry along (the
// PostgreSQL batch pipelines statements without savepoints).
func (s *Store) InsertCertificateAlong(ctx context.Context, c store.Certificate, ev store.AuditEvent, along store.Along) error {
	if err := CheckSerial(c.Serial); err != nil {
		return s.errorf("insert certificate: %w", err)
	}
	args, err := CertArgs(c)
	if err != nil {
		return s.errorf("insert certificate %s: %w", c.Serial, err)
	}
	err = s.conn.InTx(ctx, func(tx Tx) error {
		if err := s.lockAudit(ctx, tx); err != nil {
			return err
		}
		n, err := tx.Exec(ctx, InsertCertSQL, args...)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("serial already used: %w", store.ErrConflict)
		}
		if err := s.appendAuditLocked(ctx, tx, ev); err != nil {
			return err
		}
		return RunAlong(ctx, tx, along)
	})
	if err != nil {
		return s.errorf("insert certificate %s: %w", c.Serial, err)
	}
	return nil
}

// CertArgs checks c and returns its column values for InsertCertSQL.
func CertArgs(c store.Certificate) ([]any, error) {
	if c.NotBefore.IsZero() || c.NotAfter.IsZero() {
		return nil, errors.New("NotBefore and NotAfter are required")
	}
	nb, err := ToNanos("NotBefore", c.NotBefore)
	if err != nil {
		return nil, err
	}
	na, err := ToNanos("NotAfter", c.NotAfter)
	if err != nil {
		return nil, err
	}
	var revoked *int64
	if !c.RevokedAt.IsZero() {
		r, err := ToNanos("RevokedAt", c.RevokedAt)
		if err != nil {
			return nil, err
		}
		revoked = &r
	}
	names := c.Names
	if names == nil {
		names = []string{}
	}
	nj, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	return []any{c.Serial, c.Issuer, c.Profile, c.Requester, c.Subject, string(nj), nb, na,
		Blob(c.DER), c.CRLShard, revoked, c.RevocationReason}, nil
}

func scanCert(row Row) (store.Certificate, error) {
	var (
		c       store.Certificate
		names   string
		nb, na  int64
		revoked *int64
	)
	err := row.Scan(&c.Serial, &c.Issuer, &c.Profile, &c.Requester, &c.Subject, &names, &nb, &na,
		&c.DER, &c.CRLShard, &revoked, &c.RevocationReason)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(names), &c.Names); err != nil {
		return c, fmt.Errorf("certificate %s: names: %w", c.Serial, err)
	}
	if len(c.Names) == 0 {
		c.Names = nil
	}
	c.NotBefore, c.NotAfter = FromNanos(nb), FromNanos(na)
	if revoked != nil {
		c.RevokedAt = FromNanos(*revoked)
	}
	return c, nil
}

// Certificate returns one certificate by serial.
func (s *Store) Certificate(ctx context.Context, serial string) (store.Certificate, error) {
	c, err := scanCert(s.conn.QueryRow(ctx, `SELECT `+certColumns+` FROM certificates WHERE serial = ?`, serial))
	if notFound(err) {
		return store.Certificate{}, s.errorf("certificate %s: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return store.Certificate{}, s.errorf("certificate %s: %w", serial, err)
	}
	return c, nil
}

// Certificates lists the certificates matching f, by NotAfter then serial.
func (s *Store) Certificates(ctx context.Context, f store.CertFilter) ([]store.Certificate, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Profile != "" {
		where = append(where, "profile = "+arg(f.Profile))
	}
	if f.Issuer != "" {
		where = append(where, "issuer = "+arg(f.Issuer))
	}
	if f.Org != "" {
		where = append(where, orgIssuers(arg(f.Org), f.Org))
	}
	if !f.ExpiringBefore.IsZero() {
		where = append(where, "not_after < "+arg(ClampNanos(f.ExpiringBefore)))
	}
	if !f.ValidAt.IsZero() {
		at := arg(ClampNanos(f.ValidAt))
		where = append(where, "not_before <= "+at+" AND not_after > "+at)
	}
	if !f.ExpiringAfter.IsZero() {
		where = append(where, "not_after >= "+arg(ClampNanos(f.ExpiringAfter)))
	}
	if f.Revoked != nil {
		if *f.Revoked {
			where = append(where, "revoked_at IS NOT NULL")
		} else {
			where = append(where, "revoked_at IS NULL")
		}
	}
	if f.Name != "" {
		// names is a JSON array: the needle is matched in its JSON
		// form, so that it never matches across two names.
		j, _ := json.Marshal(f.Name)
		inNames := string(j[1 : len(j)-1])
		clause := ""
		if s.d.NameIndex != nil {
			clause = s.d.NameIndex(arg, f.Name, inNames)
		}
		if clause == "" {
			clause = "(subject " + s.d.ILike + " " + arg(likeContains(f.Name)) + ` ESCAPE '\'` +
				" OR names " + s.d.ILike + " " + arg(likeContains(inNames)) + ` ESCAPE '\')`
		}
		where = append(where, clause)
	}
	if f.After != nil {
		// A row value: both engines seek the index (not_after, serial).
		where = append(where, "(not_after, serial) > ("+arg(ClampNanos(f.After.NotAfter))+", "+arg(f.After.Serial)+")")
	}
	q := `SELECT ` + certColumns + ` FROM certificates`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY not_after, serial`
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, s.errorf("list certificates: %w", err)
	}
	defer rows.Close()
	var out []store.Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, s.errorf("list certificates: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("list certificates: %w", err)
	}
	return out, nil
}

// Revoke marks a certificate revoked and appends ev, in one transaction.
func (s *Store) Revoke(ctx context.Context, serial string, at time.Time, reason int, ev store.AuditEvent) error {
	if at.IsZero() {
		return s.errorf("revoke %s: revocation time is required", serial)
	}
	atN, err := ToNanos("revocation time", at)
	if err != nil {
		return s.errorf("revoke %s: %w", serial, err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		// The audit lock first: the change-feed trigger locks its counter
		// row next, in the order every writer uses.
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		n, err := tx.Exec(ctx, `UPDATE certificates SET revoked_at = ?, revocation_reason = ?
			WHERE serial = ? AND revoked_at IS NULL`, atN, reason, serial)
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, notRevoked(ctx, tx, `SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?)`, serial)
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("revoke %s: %w", serial, err)
	}
	return nil
}

// RevokedCertificates streams the revoked certificates of issuer in serial
// order, a row at a time.
func (s *Store) RevokedCertificates(ctx context.Context, issuer string, fn func(store.Revoked) error) error {
	return s.walkRevoked(ctx, fmt.Sprintf("revoked certificates of %s", issuer), RevokedOfIssuerSQL, []any{issuer}, fn)
}

// RevokedOfIssuerSQL reads the partial index certificates_revoked in
// serial order.
const RevokedOfIssuerSQL = `SELECT serial, revoked_at, revocation_reason, not_after
	FROM certificates WHERE issuer = ? AND revoked_at IS NOT NULL ORDER BY serial`

func (s *Store) walkRevoked(ctx context.Context, what, q string, args []any, fn func(store.Revoked) error) error {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return s.errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r      store.Revoked
			at, na int64
		)
		if err := rows.Scan(&r.Serial, &at, &r.Reason, &na); err != nil {
			return s.errorf("%s: %w", what, err)
		}
		r.RevokedAt, r.NotAfter = FromNanos(at), FromNanos(na)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.errorf("%s: %w", what, err)
	}
	return nil
}

// NextCRLNumber increments and returns the issuer's CRL number in one
// upsert: the row lock makes concurrent callers on every instance queue,
// and each gets its own number.
func (s *Store) NextCRLNumber(ctx context.Context, issuer string) (int64, error) {
	var n int64
	err := s.conn.QueryRow(ctx, `INSERT INTO crl_numbers (issuer, last) VALUES (?, 1)
		ON CONFLICT (issuer) DO UPDATE SET last = crl_numbers.last + 1
		RETURNING last`, issuer).Scan(&n)
	if err != nil {
		return 0, s.errorf("next CRL number of %s: %w", issuer, err)
	}
	return n, nil
}

// likeContains is a LIKE pattern (ESCAPE '\') matching any text that
// contains s.
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// notRevoked explains why a revoking UPDATE changed no row: exists (a
// query for the row's existence) tells "already revoked" (ErrConflict)
// from ErrNotFound.
func notRevoked(ctx context.Context, tx Tx, exists string, key any) error {
	var found bool
	if err := tx.QueryRow(ctx, exists, key).Scan(&found); err != nil {
		return err
	}
	if found {
		return fmt.Errorf("already revoked: %w", store.ErrConflict)
	}
	return store.ErrNotFound
}
