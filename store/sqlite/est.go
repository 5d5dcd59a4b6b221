package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/store"
)

var _ store.ESTStore = (*Store)(nil)

// AddESTUser stores new EST credentials and their audit event together.
func (s *Store) AddESTUser(ctx context.Context, u store.ESTUser, ev store.AuditEvent) error {
	at, err := toNanos("created_at", u.CreatedAt)
	if err != nil {
		return fmt.Errorf("sqlite store: add EST user: %w", err)
	}
	_, err = withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO est_users (user, service, hash, created_at) VALUES (?, ?, ?, ?)`,
			u.User, u.Service, u.Hash, at)
		if isUniqueViolation(err) {
			return struct{}{}, fmt.Errorf("EST user %q exists: %w", u.User, store.ErrConflict)
		}
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: add EST user: %w", err)
	}
	return nil
}

// ESTUser returns the credentials of one user.
func (s *Store) ESTUser(ctx context.Context, user string) (store.ESTUser, error) {
	u := store.ESTUser{User: user}
	var at int64
	err := s.q.QueryRowContext(ctx, `SELECT service, hash, created_at FROM est_users WHERE user = ?`, user).
		Scan(&u.Service, &u.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ESTUser{}, fmt.Errorf("EST user %q: %w", user, store.ErrNotFound)
	}
	if err != nil {
		return store.ESTUser{}, fmt.Errorf("sqlite store: EST user: %w", err)
	}
	u.CreatedAt = fromNanos(at)
	return u, nil
}

// ESTUsers returns every user without the hash.
func (s *Store) ESTUsers(ctx context.Context) ([]store.ESTUser, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT user, service, created_at FROM est_users ORDER BY user`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: EST users: %w", err)
	}
	defer rows.Close()
	var out []store.ESTUser
	for rows.Next() {
		var u store.ESTUser
		var at int64
		if err := rows.Scan(&u.User, &u.Service, &at); err != nil {
			return nil, fmt.Errorf("sqlite store: EST users: %w", err)
		}
		u.CreatedAt = fromNanos(at)
		out = append(out, u)
	}
	return out, rows.Err()
}

// RemoveESTUser deletes a user's credentials with their audit event.
func (s *Store) RemoveESTUser(ctx context.Context, user string, ev store.AuditEvent) error {
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM est_users WHERE user = ?`, user)
		if err != nil {
			return struct{}{}, err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return struct{}{}, fmt.Errorf("EST user %q: %w", user, store.ErrNotFound)
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: remove EST user: %w", err)
	}
	return nil
}
