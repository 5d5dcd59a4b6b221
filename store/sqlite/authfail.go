package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

var _ store.AuthFailureStore = (*Store)(nil)

// AddAuthFailure implements store.AuthFailureStore in one upsert: refill
// for the time since the last draw (never for time going backwards), cap
// at the burst, take one, floor at zero.
func (s *Store) AddAuthFailure(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (float64, error) {
	if burst <= 0 || every <= 0 {
		return 0, fmt.Errorf("sqlite store: auth failure: burst and period must be positive")
	}
	at, err := toNanos("failure time", now)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: auth failure: %w", err)
	}
	left, err := withTx(ctx, s, func(tx *cachedTx) (float64, error) {
		var left float64
		err := tx.QueryRowContext(ctx, `INSERT INTO auth_failures (key, tokens, at) VALUES (?1, ?2 - 1.0, ?3)
			ON CONFLICT (key) DO UPDATE SET
				tokens = max(0.0, min(?2 * 1.0, auth_failures.tokens + max(0, ?3 - auth_failures.at) * 1.0 / ?4) - 1.0),
				at = max(auth_failures.at, ?3)
			RETURNING tokens`, key, burst, at, int64(every)).Scan(&left)
		return left, err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite store: auth failure: %w", err)
	}
	return left, nil
}

// PruneAuthFailures implements store.AuthFailureStore.
func (s *Store) PruneAuthFailures(ctx context.Context, before time.Time) (int64, error) {
	n, err := withTx(ctx, s, func(tx *cachedTx) (int64, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_failures WHERE at < ?`, clampNanos(before))
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite store: prune auth failures: %w", err)
	}
	return n, nil
}
