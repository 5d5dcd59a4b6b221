package postgres

import (
	"context"
	"fmt"
	"time"
)

// AcquireLease implements store.Leaser with one upsert: it takes a free or
// expired lease, or renews the holder's own. Concurrent upserts of one
// name queue on its row, so exactly one contender wins a free lease.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("postgres store: lease: name, holder and a positive TTL are required")
	}
	at, err := sqlstore.ToNanos("lease time", now)
	if err != nil {
		return false, fmt.Errorf("postgres store: lease %s: %w", name, err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO leases (name, holder, expires) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE leases.holder = excluded.holder OR leases.expires <= $4`, name, holder, sqlstore.ClampNanos(now.Add(ttl)), at)
	if err != nil {
		return false, fmt.Errorf("postgres store: lease %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLease implements store.Leaser.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("postgres store: release lease %s: %w", name, err)
	}
	return nil
}
