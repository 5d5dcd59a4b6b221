package sqlite

import (
	"context"
	"database/sql"
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
	insertCertSQL = `INSERT INTO certificates (` + certColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// InsertCertificate records c and ev in one transaction, which it shares
// with other concurrent writes (group commit, batch.go). It returns once
// that transaction has committed.
func (s *Store) InsertCertificate(ctx context.Context, c store.Certificate, ev store.AuditEvent) error {
	if err := checkSerial(c.Serial); err != nil {
		return fmt.Errorf("sqlite store: insert certificate: %w", err)
	}
	r, err := certRequest(c, ev)
	if err == nil {
		err = s.submit(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: insert certificate %s: %w", c.Serial, err)
	}
	return nil
}

// certRequest validates c and ev and turns them into a queued write.
func certRequest(c store.Certificate, ev store.AuditEvent) (*writeReq, error) {
	args, err := certArgs(c)
	if err != nil {
		return nil, err
	}
	ev, at, err := auditRow(ev)
	if err != nil {
		return nil, err
	}
	return &writeReq{serial: c.Serial, certArgs: args, ev: ev, evTime: at}, nil
}

func certArgs(c store.Certificate) ([]any, error) {
	if c.NotBefore.IsZero() || c.NotAfter.IsZero() {
		return nil, errors.New("NotBefore and NotAfter are required")
	}
	nb, err := toNanos("NotBefore", c.NotBefore)
	if err != nil {
		return nil, err
	}
	na, err := toNanos("NotAfter", c.NotAfter)
	if err != nil {
		return nil, err
	}
	var revoked sql.NullInt64
	if !c.RevokedAt.IsZero() {
		if revoked.Int64, err = toNanos("RevokedAt", c.RevokedAt); err != nil {
			return nil, err
		}
		revoked.Valid = true
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
		blob(c.DER), c.CRLShard, revoked, c.RevocationReason}, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanCert(sc scanner) (store.Certificate, error) {
	var (
		c       store.Certificate
		names   string
		nb, na  int64
		revoked sql.NullInt64
	)
	err := sc.Scan(&c.Serial, &c.Issuer, &c.Profile, &c.Requester, &c.Subject, &names, &nb, &na,
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
	c.NotBefore, c.NotAfter = fromNanos(nb), fromNanos(na)
	if revoked.Valid {
		c.RevokedAt = fromNanos(revoked.Int64)
	}
	return c, nil
}

// Certificate returns one certificate by serial.
func (s *Store) Certificate(ctx context.Context, serial string) (store.Certificate, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+certColumns+` FROM certificates WHERE serial = ?`, serial)
	c, err := scanCert(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Certificate{}, fmt.Errorf("sqlite store: certificate %s: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return store.Certificate{}, fmt.Errorf("sqlite store: certificate %s: %w", serial, err)
	}
	return c, nil
}

// Certificates lists the certificates matching f, by NotAfter then serial.
func (s *Store) Certificates(ctx context.Context, f store.CertFilter) ([]store.Certificate, error) {
	var (
		where []string
		args  []any
	)
	if f.Profile != "" {
		where, args = append(where, "profile = ?"), append(args, f.Profile)
	}
	if f.Issuer != "" {
		where, args = append(where, "issuer = ?"), append(args, f.Issuer)
	}
	if !f.ExpiringBefore.IsZero() {
		where, args = append(where, "not_after < ?"), append(args, clampNanos(f.ExpiringBefore))
	}
	if !f.ValidAt.IsZero() {
		at := clampNanos(f.ValidAt)
		where, args = append(where, "not_before <= ? AND not_after > ?"), append(args, at, at)
	}
	if f.After != nil {
		after := clampNanos(f.After.NotAfter)
		where, args = append(where, "(not_after > ? OR (not_after = ? AND serial > ?))"), append(args, after, after, f.After.Serial)
	}
	q := `SELECT ` + certColumns + ` FROM certificates`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY not_after, serial`
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit)
	}
	rows, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list certificates: %w", err)
	}
	defer rows.Close()
	var out []store.Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list certificates: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list certificates: %w", err)
	}
	return out, nil
}

// Revoke marks a certificate revoked and appends ev, in one transaction.
func (s *Store) Revoke(ctx context.Context, serial string, at time.Time, reason int, ev store.AuditEvent) error {
	if at.IsZero() {
		// A zero time would read back as "not revoked".
		return fmt.Errorf("sqlite store: revoke %s: revocation time is required", serial)
	}
	atN, err := toNanos("revocation time", at)
	if err != nil {
		return fmt.Errorf("sqlite store: revoke %s: %w", serial, err)
	}
	_, err = withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET revoked_at = ?, revocation_reason = ?
			WHERE serial = ? AND revoked_at IS NULL`, atN, reason, serial)
		if err != nil {
			return struct{}{}, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			var exists bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?)`,
				serial).Scan(&exists)
			switch {
			case err != nil:
				return struct{}{}, err
			case exists:
				return struct{}{}, fmt.Errorf("already revoked: %w", store.ErrConflict)
			default:
				return struct{}{}, store.ErrNotFound
			}
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: revoke %s: %w", serial, err)
	}
	return nil
}

// revokedOfIssuerSQL reads the partial index certificates_revoked in
// serial order (TestQueryPlans checks that it stays so).
const revokedOfIssuerSQL = `SELECT serial, revoked_at, revocation_reason, not_after
	FROM certificates WHERE issuer = ? AND revoked_at IS NOT NULL ORDER BY serial`

// RevokedCertificates streams the revoked certificates of issuer in serial
// order, one row at a time, so a CRL of any size never sits in memory here.
func (s *Store) RevokedCertificates(ctx context.Context, issuer string, fn func(store.Revoked) error) error {
	rows, err := s.q.QueryContext(ctx, revokedOfIssuerSQL, issuer)
	if err != nil {
		return fmt.Errorf("sqlite store: revoked certificates of %s: %w", issuer, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r      store.Revoked
			at, na int64
		)
		if err := rows.Scan(&r.Serial, &at, &r.Reason, &na); err != nil {
			return fmt.Errorf("sqlite store: revoked certificates of %s: %w", issuer, err)
		}
		r.RevokedAt, r.NotAfter = fromNanos(at), fromNanos(na)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite store: revoked certificates of %s: %w", issuer, err)
	}
	return nil
}

// NextCRLNumber increments and returns the issuer's CRL number; the upsert
// is a single statement under the write lock, so no two callers (in any
// process) get the same number.
func (s *Store) NextCRLNumber(ctx context.Context, issuer string) (int64, error) {
	n, err := withTx(ctx, s, func(tx *cachedTx) (int64, error) {
		var n int64
		err := tx.QueryRowContext(ctx, `INSERT INTO crl_numbers (issuer, last) VALUES (?, 1)
			ON CONFLICT (issuer) DO UPDATE SET last = last + 1
			RETURNING last`, issuer).Scan(&n)
		return n, err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite store: next CRL number of %s: %w", issuer, err)
	}
	return n, nil
}
