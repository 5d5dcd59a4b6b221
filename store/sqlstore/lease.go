package sqlstore

import (
	"context"
	"time"
)

// AcquireLease implements store.Leaser with one upsert: it takes a free or
// expired lease, or renews the holder's own. Concurrent upserts of one
// name queue on its row, so exactly one contender wins a free lease.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, s.errorf("lease: name, holder and a positive TTL are required")
	}
	at, err := ToNanos("lease time", now)
	if err != nil {
		return false, s.errorf("lease %s: %w", name, err)
	}
	n, err := s.exec(ctx, `INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE leases.holder = excluded.holder OR leases.expires <= ?`, name, holder, ClampNanos(now.Add(ttl)), at)
	if err != nil {
		return false, s.errorf("lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease implements store.Leaser.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.exec(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return s.errorf("release lease %s: %w", name, err)
	}
	return nil
}
