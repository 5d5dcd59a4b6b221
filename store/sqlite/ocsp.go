package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

var _ store.StatusStore = (*Store)(nil)

const statusColumns = `serial, issuer, not_after, crl_shard, revoked_at, revocation_reason`

func scanStatus(sc scanner, extra ...any) (store.CertStatus, error) {
	var (
		c       store.CertStatus
		na      int64
		revoked sql.NullInt64
	)
	dest := append(extra, &c.Serial, &c.Issuer, &na, &c.CRLShard, &revoked, &c.Reason)
	if err := sc.Scan(dest...); err != nil {
		return c, err
	}
	c.NotAfter = fromNanos(na)
	if revoked.Valid {
		c.RevokedAt = fromNanos(revoked.Int64)
	}
	return c, nil
}

// certificateStatusesSQL pages by row value on the covering index
// certificates_issuer_status, so each page is a short index range.
const certificateStatusesSQL = `SELECT ` + statusColumns + ` FROM certificates
	WHERE issuer = ? AND (not_after, serial) > (?, ?)
	ORDER BY not_after, serial LIMIT ?`

// CertificateStatuses pages through an issuer's certificates.
func (s *Store) CertificateStatuses(ctx context.Context, issuer string, after store.StatusCursor, limit int) ([]store.CertStatus, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite store: certificate statuses: limit must be positive")
	}
	rows, err := s.q.QueryContext(ctx, certificateStatusesSQL, issuer, clampNanos(after.NotAfter), after.Serial, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: certificate statuses of %s: %w", issuer, err)
	}
	defer rows.Close()
	out := make([]store.CertStatus, 0, min(limit, 4096))
	for rows.Next() {
		c, err := scanStatus(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: certificate statuses of %s: %w", issuer, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: certificate statuses of %s: %w", issuer, err)
	}
	return out, nil
}

// The CRL walks, both on the covering partial index
// certificates_revoked_shard: a million entries are read in index order,
// without one lookup into the table.
const (
	revokedInShardSQL = `SELECT serial, revoked_at, revocation_reason, not_after
		FROM certificates WHERE issuer = ? AND crl_shard = ? AND revoked_at IS NOT NULL
		ORDER BY serial`
	revokedAllShardsSQL = `SELECT serial, revoked_at, revocation_reason, not_after
		FROM certificates WHERE issuer = ? AND revoked_at IS NOT NULL
		ORDER BY crl_shard, serial`
)

// RevokedInShard streams one CRL shard, or all of them.
func (s *Store) RevokedInShard(ctx context.Context, issuer string, shard int, fn func(store.Revoked) error) error {
	q, args := revokedInShardSQL, []any{issuer, shard}
	if shard == store.AllShards {
		q, args = revokedAllShardsSQL, []any{issuer}
	}
	rows, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite store: revoked certificates of %s shard %d: %w", issuer, shard, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r      store.Revoked
			at, na int64
		)
		if err := rows.Scan(&r.Serial, &at, &r.Reason, &na); err != nil {
			return fmt.Errorf("sqlite store: revoked certificates of %s shard %d: %w", issuer, shard, err)
		}
		r.RevokedAt, r.NotAfter = fromNanos(at), fromNanos(na)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite store: revoked certificates of %s shard %d: %w", issuer, shard, err)
	}
	return nil
}

// StatusChanges reads the change log the 0002 triggers write.
func (s *Store) StatusChanges(ctx context.Context, after int64, limit int) ([]store.StatusChange, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite store: status changes: limit must be positive")
	}
	rows, err := s.q.QueryContext(ctx, `SELECT ch.seq, c.serial, c.issuer, c.not_after, c.crl_shard, c.revoked_at, c.revocation_reason
		FROM certificate_changes ch JOIN certificates c ON c.serial = ch.serial
		WHERE ch.seq > ? ORDER BY ch.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: status changes: %w", err)
	}
	defer rows.Close()
	var out []store.StatusChange
	for rows.Next() {
		var ch store.StatusChange
		if ch.CertStatus, err = scanStatus(rows, &ch.Seq); err != nil {
			return nil, fmt.Errorf("sqlite store: status changes: %w", err)
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: status changes: %w", err)
	}
	return out, nil
}

// LastStatusChange is the newest seq, 0 for none.
func (s *Store) LastStatusChange(ctx context.Context) (int64, error) {
	// sqlite_sequence keeps the last seq handed out, also once pruning
	// has emptied the table.
	var seq int64
	err := s.q.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'certificate_changes'`).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite store: last status change: %w", err)
	}
	return seq, nil
}

// PruneStatusChanges deletes changes recorded before t.
func (s *Store) PruneStatusChanges(ctx context.Context, before time.Time) error {
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		_, err := tx.ExecContext(ctx, `DELETE FROM certificate_changes WHERE at < ?`, clampNanos(before))
		return struct{}{}, err
	})
	if err != nil {
		return fmt.Errorf("sqlite store: prune status changes: %w", err)
	}
	return nil
}
