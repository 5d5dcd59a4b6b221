package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

var _ store.AuthFailureStore = (*Store)(nil)

// AddAuthFailure implements store.AuthFailureStore in one upsert; the row
// lock makes concurrent failures at several instances draw one after the
// other from the same bucket.
func (s *Store) AddAuthFailure(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (float64, error) {
	if burst <= 0 || every <= 0 {
		return 0, fmt.Errorf("postgres store: auth failure: burst and period must be positive")
	}
	at, err := toNanos("failure time", now)
	if err != nil {
		return 0, fmt.Errorf("postgres store: auth failure: %w", err)
	}
	var left float64
	err = s.pool.QueryRow(ctx, `INSERT INTO auth_failures (key, tokens, at) VALUES ($1, $2::float8 - 1, $3)
		ON CONFLICT (key) DO UPDATE SET
			tokens = GREATEST(0, LEAST($2::float8, auth_failures.tokens + GREATEST(0, $3 - auth_failures.at)::float8 / $4::float8) - 1),
			at = GREATEST(auth_failures.at, $3)
		RETURNING tokens`, key, burst, at, int64(every)).Scan(&left)
	if err != nil {
		return 0, fmt.Errorf("postgres store: auth failure: %w", err)
	}
	return left, nil
}

// PruneAuthFailures implements store.AuthFailureStore.
func (s *Store) PruneAuthFailures(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM auth_failures WHERE at < $1`, clampNanos(before))
	if err != nil {
		return 0, fmt.Errorf("postgres store: prune auth failures: %w", err)
	}
	return tag.RowsAffected(), nil
}
