package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
)

const statusColumns = `serial, issuer, not_after, crl_shard, revoked_at, revocation_reason`

func scanStatus(row pgx.Row, extra ...any) (store.CertStatus, error) {
	var (
		c       store.CertStatus
		na      int64
		revoked *int64
	)
	dest := append(extra, &c.Serial, &c.Issuer, &na, &c.CRLShard, &revoked, &c.Reason)
	if err := row.Scan(dest...); err != nil {
		return c, err
	}
	c.NotAfter = sqlstore.FromNanos(na)
	if revoked != nil {
		c.RevokedAt = sqlstore.FromNanos(*revoked)
	}
	return c, nil
}

// CertificateStatuses pages through an issuer's certificates by row value
// on the covering index certificates_issuer_status.
func (s *Store) CertificateStatuses(ctx context.Context, issuer string, after store.StatusCursor, limit int) ([]store.CertStatus, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres store: certificate statuses: limit must be positive")
	}
	rows, err := s.pool.Query(ctx, `SELECT `+statusColumns+` FROM certificates
		WHERE issuer = $1 AND (not_after, serial) > ($2, $3)
		ORDER BY not_after, serial LIMIT $4`, issuer, sqlstore.ClampNanos(after.NotAfter), after.Serial, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store: certificate statuses of %s: %w", issuer, err)
	}
	defer rows.Close()
	out := make([]store.CertStatus, 0, min(limit, 4096))
	for rows.Next() {
		c, err := scanStatus(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres store: certificate statuses of %s: %w", issuer, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: certificate statuses of %s: %w", issuer, err)
	}
	return out, nil
}

// RevokedInShard streams one CRL shard, or all of them.
func (s *Store) RevokedInShard(ctx context.Context, issuer string, shard int, fn func(store.Revoked) error) error {
	what := fmt.Sprintf("revoked certificates of %s shard %d", issuer, shard)
	if shard == store.AllShards {
		return s.walkRevoked(ctx, what, `SELECT serial, revoked_at, revocation_reason, not_after
			FROM certificates WHERE issuer = $1 AND revoked_at IS NOT NULL ORDER BY crl_shard, serial`, []any{issuer}, fn)
	}
	return s.walkRevoked(ctx, what, `SELECT serial, revoked_at, revocation_reason, not_after
		FROM certificates WHERE issuer = $1 AND crl_shard = $2 AND revoked_at IS NOT NULL ORDER BY serial`, []any{issuer, shard}, fn)
}

// StatusChanges reads the change feed the 0005 trigger writes. Numbers
// commit in order (see the migration), so a follower passing the last seq
// it got never misses a change another instance commits later.
func (s *Store) StatusChanges(ctx context.Context, after int64, limit int) ([]store.StatusChange, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres store: status changes: limit must be positive")
	}
	rows, err := s.pool.Query(ctx, `SELECT ch.seq, c.serial, c.issuer, c.not_after, c.crl_shard, c.revoked_at, c.revocation_reason
		FROM certificate_changes ch JOIN certificates c ON c.serial = ch.serial
		WHERE ch.seq > $1 ORDER BY ch.seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store: status changes: %w", err)
	}
	defer rows.Close()
	var out []store.StatusChange
	for rows.Next() {
		var ch store.StatusChange
		if ch.CertStatus, err = scanStatus(rows, &ch.Seq); err != nil {
			return nil, fmt.Errorf("postgres store: status changes: %w", err)
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: status changes: %w", err)
	}
	return out, nil
}

// LastStatusChange is the newest committed seq, 0 for none; the counter
// row keeps it also once pruning has emptied the feed.
func (s *Store) LastStatusChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT last FROM certificate_changes_last WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("postgres store: last status change: %w", err)
	}
	return seq, nil
}

// PruneStatusChanges deletes changes recorded before t.
func (s *Store) PruneStatusChanges(ctx context.Context, before time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM certificate_changes WHERE at < $1`, sqlstore.ClampNanos(before)); err != nil {
		return fmt.Errorf("postgres store: prune status changes: %w", err)
	}
	return nil
}
