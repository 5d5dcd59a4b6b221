package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

var _ store.SharedOCSPStore = (*Store)(nil)

const sharedOCSPColumns = `issuer, hash, serial, revoked, revoked_at, reason, produced_at, this_update, next_update, signed`

// PutOCSPResponses implements store.SharedOCSPStore: pipelined upserts
// that only ever move a response forward (newer, and never from revoked
// back to good).
func (s *Store) PutOCSPResponses(ctx context.Context, rs []store.SharedOCSP) error {
	var b pgx.Batch
	for _, r := range rs {
		var revokedAt int64
		if r.Revoked {
			var err error
			if revokedAt, err = sqlstore.ToNanos("revocation time", r.RevokedAt); err != nil {
				return fmt.Errorf("postgres store: put OCSP responses: %w", err)
			}
		}
		var times [3]int64
		for i, t := range []time.Time{r.ProducedAt, r.ThisUpdate, r.NextUpdate} {
			n, err := sqlstore.ToNanos("response time", t)
			if err != nil {
				return fmt.Errorf("postgres store: put OCSP responses: %w", err)
			}
			times[i] = n
		}
		b.Queue(`INSERT INTO ocsp_responses (`+sharedOCSPColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (issuer, hash, serial) DO UPDATE SET revoked = excluded.revoked, revoked_at = excluded.revoked_at,
				reason = excluded.reason, produced_at = excluded.produced_at, this_update = excluded.this_update,
				next_update = excluded.next_update, signed = excluded.signed
			WHERE (excluded.revoked AND NOT ocsp_responses.revoked)
				OR (excluded.this_update > ocsp_responses.this_update AND (excluded.revoked OR NOT ocsp_responses.revoked))`,
			r.Issuer, r.Hash, r.Serial, r.Revoked, revokedAt, r.Reason, times[0], times[1], times[2], sqlstore.Blob(r.Signed))
	}
	if b.Len() == 0 {
		return nil
	}
	_, err := withTx(ctx, s, func(tx pgx.Tx) (struct{}, error) {
		return struct{}{}, tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres store: put OCSP responses: %w", err)
	}
	return nil
}

// OCSPResponses implements store.SharedOCSPStore.
func (s *Store) OCSPResponses(ctx context.Context, issuer, hash string, serials []string) ([]store.SharedOCSP, error) {
	if len(serials) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+sharedOCSPColumns+` FROM ocsp_responses
		WHERE issuer = $1 AND hash = $2 AND serial = ANY($3)`, issuer, hash, serials)
	if err != nil {
		return nil, fmt.Errorf("postgres store: OCSP responses: %w", err)
	}
	defer rows.Close()
	var out []store.SharedOCSP
	for rows.Next() {
		var (
			r                              store.SharedOCSP
			revokedAt, produced, this, nxt int64
		)
		if err := rows.Scan(&r.Issuer, &r.Hash, &r.Serial, &r.Revoked, &revokedAt, &r.Reason, &produced, &this, &nxt, &r.Signed); err != nil {
			return nil, fmt.Errorf("postgres store: OCSP responses: %w", err)
		}
		if r.Revoked {
			r.RevokedAt = sqlstore.FromNanos(revokedAt)
		}
		r.ProducedAt, r.ThisUpdate, r.NextUpdate = sqlstore.FromNanos(produced), sqlstore.FromNanos(this), sqlstore.FromNanos(nxt)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: OCSP responses: %w", err)
	}
	return out, nil
}

// PruneOCSPResponses implements store.SharedOCSPStore.
func (s *Store) PruneOCSPResponses(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM ocsp_responses WHERE next_update < $1`, sqlstore.ClampNanos(before))
	if err != nil {
		return 0, fmt.Errorf("postgres store: prune OCSP responses: %w", err)
	}
	return tag.RowsAffected(), nil
}
