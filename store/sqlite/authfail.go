package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

var _ store.AuthFailureStore = (*Store)(nil)

// TakeAuthToken implements store.AuthFailureStore in one upsert: refill
// for the time since the last draw (never for time going backwards), cap
// at the burst, take one if one is there. The upsert's WHERE leaves a
// bucket with less than a token untouched, and then no row is returned.
func (s *Store) TakeAuthToken(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (float64, bool, error) {
	if burst <= 0 || every <= 0 {
		return 0, false, fmt.Errorf("sqlite store: auth token: burst and period must be positive")
	}
	at, err := sqlstore.ToNanos("attempt time", now)
	if err != nil {
		return 0, false, fmt.Errorf("sqlite store: auth token: %w", err)
	}
	type result struct {
		left  float64
		taken bool
	}
	r, err := withTx(ctx, s, func(tx *cachedTx) (result, error) {
		var left float64
		err := tx.QueryRowContext(ctx, `INSERT INTO auth_failures (key, tokens, at) VALUES (?1, ?2 - 1.0, ?3)
			ON CONFLICT (key) DO UPDATE SET
				tokens = min(?2 * 1.0, auth_failures.tokens + max(0, ?3 - auth_failures.at) * 1.0 / ?4) - 1.0,
				at = max(auth_failures.at, ?3)
			WHERE min(?2 * 1.0, auth_failures.tokens + max(0, ?3 - auth_failures.at) * 1.0 / ?4) >= 1.0
			RETURNING tokens`, key, burst, at, int64(every)).Scan(&left)
		if errors.Is(err, sql.ErrNoRows) {
			return result{}, nil
		}
		return result{left, true}, err
	})
	if err != nil {
		return 0, false, fmt.Errorf("sqlite store: auth token: %w", err)
	}
	return r.left, r.taken, nil
}

// ReturnAuthToken implements store.AuthFailureStore.
func (s *Store) ReturnAuthToken(ctx context.Context, key string, burst int, now time.Time) error {
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		_, err := tx.ExecContext(ctx, `UPDATE auth_failures SET tokens = min(?2 * 1.0, tokens + 1.0) WHERE key = ?1`, key, burst)
		return struct{}{}, err
	})
	if err != nil {
		return fmt.Errorf("sqlite store: return auth token: %w", err)
	}
	return nil
}

// PruneAuthFailures implements store.AuthFailureStore.
func (s *Store) PruneAuthFailures(ctx context.Context, before time.Time) (int64, error) {
	n, err := withTx(ctx, s, func(tx *cachedTx) (int64, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_failures WHERE at < ?`, sqlstore.ClampNanos(before))
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
