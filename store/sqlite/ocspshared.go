package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

var _ store.SharedOCSPStore = (*Store)(nil)

const sharedOCSPColumns = `issuer, hash, serial, revoked, revoked_at, reason, produced_at, this_update, next_update, signed`

// sharedOCSPRow turns r into the row's values; revoked_at is 0 while not
// revoked.
func sharedOCSPRow(r store.SharedOCSP) ([]any, error) {
	var revokedAt int64
	if r.Revoked {
		var err error
		if revokedAt, err = sqlstore.ToNanos("revocation time", r.RevokedAt); err != nil {
			return nil, err
		}
	}
	times := make([]any, 3)
	for i, t := range []time.Time{r.ProducedAt, r.ThisUpdate, r.NextUpdate} {
		n, err := sqlstore.ToNanos("response time", t)
		if err != nil {
			return nil, err
		}
		times[i] = n
	}
	return append([]any{r.Issuer, r.Hash, r.Serial, r.Revoked, revokedAt, r.Reason}, append(times, sqlstore.Blob(r.Signed))...), nil
}

// PutOCSPResponses implements store.SharedOCSPStore. A file shared by one
// server needs none of this; it is here so that both stores keep one
// contract.
func (s *Store) PutOCSPResponses(ctx context.Context, rs []store.SharedOCSP) error {
	if len(rs) == 0 {
		return nil
	}
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		st, err := tx.PrepareContext(ctx, `INSERT INTO ocsp_responses (`+sharedOCSPColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (issuer, hash, serial) DO UPDATE SET revoked = excluded.revoked, revoked_at = excluded.revoked_at,
				reason = excluded.reason, produced_at = excluded.produced_at, this_update = excluded.this_update,
				next_update = excluded.next_update, signed = excluded.signed
			WHERE (excluded.revoked AND NOT ocsp_responses.revoked)
				OR (excluded.this_update > ocsp_responses.this_update AND (excluded.revoked OR NOT ocsp_responses.revoked))`)
		if err != nil {
			return struct{}{}, err
		}
		defer st.Close()
		for _, r := range rs {
			args, err := sharedOCSPRow(r)
			if err != nil {
				return struct{}{}, err
			}
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	if err != nil {
		return fmt.Errorf("sqlite store: put OCSP responses: %w", err)
	}
	return nil
}

// OCSPResponses implements store.SharedOCSPStore.
func (s *Store) OCSPResponses(ctx context.Context, issuer, hash string, serials []string) ([]store.SharedOCSP, error) {
	var out []store.SharedOCSP
	for len(serials) > 0 {
		n := min(len(serials), 500) // SQLite's limit on parameters is far above this
		args := []any{issuer, hash}
		for _, sr := range serials[:n] {
			args = append(args, sr)
		}
		rows, err := s.q.QueryContext(ctx, `SELECT `+sharedOCSPColumns+` FROM ocsp_responses
			WHERE issuer = ? AND hash = ? AND serial IN (?`+strings.Repeat(", ?", n-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: OCSP responses: %w", err)
		}
		for rows.Next() {
			var (
				r                              store.SharedOCSP
				revokedAt, produced, this, nxt int64
			)
			if err := rows.Scan(&r.Issuer, &r.Hash, &r.Serial, &r.Revoked, &revokedAt, &r.Reason, &produced, &this, &nxt, &r.Signed); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite store: OCSP responses: %w", err)
			}
			if r.Revoked {
				r.RevokedAt = sqlstore.FromNanos(revokedAt)
			}
			r.ProducedAt, r.ThisUpdate, r.NextUpdate = sqlstore.FromNanos(produced), sqlstore.FromNanos(this), sqlstore.FromNanos(nxt)
			out = append(out, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite store: OCSP responses: %w", err)
		}
		serials = serials[n:]
	}
	return out, nil
}

// PruneOCSPResponses implements store.SharedOCSPStore.
func (s *Store) PruneOCSPResponses(ctx context.Context, before time.Time) (int64, error) {
	n, err := withTx(ctx, s, func(tx *cachedTx) (int64, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM ocsp_responses WHERE next_update < ?`, sqlstore.ClampNanos(before))
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite store: prune OCSP responses: %w", err)
	}
	return n, nil
}
