package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

var _ store.Leaser = (*Store)(nil)

// AcquireLease implements store.Leaser with one upsert under the write
// lock: it takes a free or expired lease, or renews the holder's own.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("sqlite store: lease: name, holder and a positive TTL are required")
	}
	at, err := toNanos("lease time", now)
	if err != nil {
		return false, fmt.Errorf("sqlite store: lease %s: %w", name, err)
	}
	until := clampNanos(now.Add(ttl))
	got, err := withTx(ctx, s, func(tx *cachedTx) (bool, error) {
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
			WHERE leases.holder = excluded.holder OR leases.expires <= ?`, name, holder, until, at)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n == 1, err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite store: lease %s: %w", name, err)
	}
	return got, nil
}

// ReleaseLease implements store.Leaser.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return struct{}{}, err
	})
	if err != nil {
		return fmt.Errorf("sqlite store: release lease %s: %w", name, err)
	}
	return nil
}
