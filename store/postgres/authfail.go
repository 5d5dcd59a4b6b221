package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

var _ store.AuthFailureStore = (*Store)(nil)

// TakeAuthToken implements store.AuthFailureStore in one upsert; the row
// lock makes concurrent attempts at several instances draw one after the
// other from the same bucket. The upsert's WHERE leaves a bucket with less
// than a token untouched, and then no row is returned.
func (s *Store) TakeAuthToken(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (float64, bool, error) {
	if burst <= 0 || every <= 0 {
		return 0, false, fmt.Errorf("postgres store: auth token: burst and period must be positive")
	}
	at, err := sqlstore.ToNanos("attempt time", now)
	if err != nil {
		return 0, false, fmt.Errorf("postgres store: auth token: %w", err)
	}
	var left float64
	err = s.pool.QueryRow(ctx, `INSERT INTO auth_failures (key, tokens, at) VALUES ($1, $2::float8 - 1, $3)
		ON CONFLICT (key) DO UPDATE SET
			tokens = LEAST($2::float8, auth_failures.tokens + GREATEST(0, $3 - auth_failures.at)::float8 / $4::float8) - 1,
			at = GREATEST(auth_failures.at, $3)
		WHERE LEAST($2::float8, auth_failures.tokens + GREATEST(0, $3 - auth_failures.at)::float8 / $4::float8) >= 1
		RETURNING tokens`, key, burst, at, int64(every)).Scan(&left)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("postgres store: auth token: %w", err)
	}
	return left, true, nil
}

// ReturnAuthToken implements store.AuthFailureStore.
func (s *Store) ReturnAuthToken(ctx context.Context, key string, burst int, now time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE auth_failures SET tokens = LEAST($2::float8, tokens + 1) WHERE key = $1`, key, burst)
	if err != nil {
		return fmt.Errorf("postgres store: return auth token: %w", err)
	}
	return nil
}

// PruneAuthFailures implements store.AuthFailureStore.
func (s *Store) PruneAuthFailures(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM auth_failures WHERE at < $1`, sqlstore.ClampNanos(before))
	if err != nil {
		return 0, fmt.Errorf("postgres store: prune auth failures: %w", err)
	}
	return tag.RowsAffected(), nil
}
