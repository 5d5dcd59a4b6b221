package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

const statusColumns = `serial, issuer, not_after, crl_shard, revoked_at, revocation_reason`

func scanStatus(row Row, extra ...any) (store.CertStatus, error) {
	var (
		c       store.CertStatus
		na      int64
		revoked *int64
	)
	dest := append(extra, &c.Serial, &c.Issuer, &na, &c.CRLShard, &revoked, &c.Reason)
	if err := row.Scan(dest...); err != nil {
		return c, err
	}
	c.NotAfter = FromNanos(na)
	if revoked != nil {
		c.RevokedAt = FromNanos(*revoked)
	}
	return c, nil
}

// CertificateStatusesSQL pages by row value on the covering index
// certificates_issuer_status, so each page is a short index range.
// The SQL texts the query plans are checked for (store/sqlite's
// TestQueryPlans) are exported.
const CertificateStatusesSQL = `SELECT ` + statusColumns + ` FROM certificates
	WHERE issuer = ? AND (not_after, serial) > (?, ?)
	ORDER BY not_after, serial LIMIT ?`

// CertificateStatuses pages through an issuer's certificates.
func (s *Store) CertificateStatuses(ctx context.Context, issuer string, after store.StatusCursor, limit int) ([]store.CertStatus, error) {
	if limit <= 0 {
		return nil, s.errorf("certificate statuses: limit must be positive")
	}
	rows, err := s.conn.Query(ctx, CertificateStatusesSQL, issuer, ClampNanos(after.NotAfter), after.Serial, limit)
	if err != nil {
		return nil, s.errorf("certificate statuses of %s: %w", issuer, err)
	}
	defer rows.Close()
	out := make([]store.CertStatus, 0, min(limit, 4096))
	for rows.Next() {
		c, err := scanStatus(rows)
		if err != nil {
			return nil, s.errorf("certificate statuses of %s: %w", issuer, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("certificate statuses of %s: %w", issuer, err)
	}
	return out, nil
}

// RevokedInShard streams one CRL shard, or all of them.
func (s *Store) RevokedInShard(ctx context.Context, issuer string, shard int, fn func(store.Revoked) error) error {
	what := fmt.Sprintf("revoked certificates of %s shard %d", issuer, shard)
	if shard == store.AllShards {
		return s.walkRevoked(ctx, what, RevokedAllShardsSQL, []any{issuer}, fn)
	}
	return s.walkRevoked(ctx, what, RevokedInShardSQL, []any{issuer, shard}, fn)
}

// The CRL walks, both on the covering partial index
// certificates_revoked_shard: a million entries are read in index order,
// without one lookup into the table.
const (
	RevokedInShardSQL = `SELECT serial, revoked_at, revocation_reason, not_after
		FROM certificates WHERE issuer = ? AND crl_shard = ? AND revoked_at IS NOT NULL
		ORDER BY serial`
	RevokedAllShardsSQL = `SELECT serial, revoked_at, revocation_reason, not_after
		FROM certificates WHERE issuer = ? AND revoked_at IS NOT NULL
		ORDER BY crl_shard, serial`
)

// StatusChanges reads the change feed the 0005 trigger writes. Numbers
// commit in order (see the migration), so a follower passing the last seq
// it got never misses a change another instance commits later.
func (s *Store) StatusChanges(ctx context.Context, after int64, limit int) ([]store.StatusChange, error) {
	if limit <= 0 {
		return nil, s.errorf("status changes: limit must be positive")
	}
	rows, err := s.conn.Query(ctx, `SELECT ch.seq, c.serial, c.issuer, c.not_after, c.crl_shard, c.revoked_at, c.revocation_reason
		FROM certificate_changes ch JOIN certificates c ON c.serial = ch.serial
		WHERE ch.seq > ? ORDER BY ch.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.errorf("status changes: %w", err)
	}
	defer rows.Close()
	var out []store.StatusChange
	for rows.Next() {
		var ch store.StatusChange
		if ch.CertStatus, err = scanStatus(rows, &ch.Seq); err != nil {
			return nil, s.errorf("status changes: %w", err)
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("status changes: %w", err)
	}
	return out, nil
}

// LastStatusChange is the newest committed seq, 0 for none; the engine's
// counter (Dialect.LastStatusChangeSQL) keeps it also once pruning has
// emptied the feed.
func (s *Store) LastStatusChange(ctx context.Context) (int64, error) {
	var seq int64
	err := s.conn.QueryRow(ctx, s.d.LastStatusChangeSQL).Scan(&seq)
	if notFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, s.errorf("last status change: %w", err)
	}
	return seq, nil
}

// PruneStatusChanges deletes changes recorded before t.
func (s *Store) PruneStatusChanges(ctx context.Context, before time.Time) error {
	_, err := inTx(ctx, s, func(tx Tx) (int64, error) {
		return tx.Exec(ctx, `DELETE FROM certificate_changes WHERE at < ?`, ClampNanos(before))
	})
	if err != nil {
		return s.errorf("prune status changes: %w", err)
	}
	return nil
}
