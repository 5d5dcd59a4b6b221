package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
)

// AddESTUser stores new EST credentials and their audit event together.
func (s *Store) AddESTUser(ctx context.Context, u store.ESTUser, ev store.AuditEvent) error {
	at, err := toNanos("created_at", u.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres store: add EST user: %w", err)
	}
	_, err = withTx(ctx, s, func(tx pgx.Tx) (struct{}, error) {
		tag, err := tx.Exec(ctx, `INSERT INTO est_users (user_name, service, hash, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_name) DO NOTHING`, u.User, u.Service, u.Hash, at)
		if err != nil {
			return struct{}{}, err
		}
		if tag.RowsAffected() == 0 {
			return struct{}{}, fmt.Errorf("EST user %q exists: %w", u.User, store.ErrConflict)
		}
		return struct{}{}, appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("postgres store: add EST user: %w", err)
	}
	return nil
}

// ESTUser returns the credentials of one user.
func (s *Store) ESTUser(ctx context.Context, user string) (store.ESTUser, error) {
	u := store.ESTUser{User: user}
	var at int64
	err := s.pool.QueryRow(ctx, `SELECT service, hash, created_at FROM est_users WHERE user_name = $1`, user).
		Scan(&u.Service, &u.Hash, &at)
	if notFound(err) {
		return store.ESTUser{}, fmt.Errorf("EST user %q: %w", user, store.ErrNotFound)
	}
	if err != nil {
		return store.ESTUser{}, fmt.Errorf("postgres store: EST user: %w", err)
	}
	u.CreatedAt = fromNanos(at)
	return u, nil
}
