package sqlstore

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
)

// AddESTUser stores new EST credentials and their audit event together.
func (s *Store) AddESTUser(ctx context.Context, u store.ESTUser, ev store.AuditEvent) error {
	at, err := ToNanos("created_at", u.CreatedAt)
	if err != nil {
		return s.errorf("add EST user: %w", err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		n, err := tx.Exec(ctx, `INSERT INTO est_users (user_name, service, hash, created_at, org) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_name) DO NOTHING`, u.User, u.Service, u.Hash, at, store.OrgOf(u.Org))
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, fmt.Errorf("EST user %q exists: %w", u.User, store.ErrConflict)
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("add EST user: %w", err)
	}
	return nil
}

// ESTUser returns the credentials of one user.
func (s *Store) ESTUser(ctx context.Context, user string) (store.ESTUser, error) {
	u := store.ESTUser{User: user}
	var at int64
	err := s.conn.QueryRow(ctx, `SELECT service, hash, created_at, org FROM est_users WHERE user_name = ?`, user).
		Scan(&u.Service, &u.Hash, &at, &u.Org)
	if notFound(err) {
		return store.ESTUser{}, fmt.Errorf("EST user %q: %w", user, store.ErrNotFound)
	}
	if err != nil {
		return store.ESTUser{}, s.errorf("EST user: %w", err)
	}
	u.CreatedAt = FromNanos(at)
	return u, nil
}

// ESTUsers returns every user without the hash.
func (s *Store) ESTUsers(ctx context.Context) ([]store.ESTUser, error) {
	rows, err := s.conn.Query(ctx, `SELECT user_name, service, created_at, org FROM est_users ORDER BY user_name`)
	if err != nil {
		return nil, s.errorf("EST users: %w", err)
	}
	defer rows.Close()
	var out []store.ESTUser
	for rows.Next() {
		var u store.ESTUser
		var at int64
		if err := rows.Scan(&u.User, &u.Service, &at, &u.Org); err != nil {
			return nil, s.errorf("EST users: %w", err)
		}
		u.CreatedAt = FromNanos(at)
		out = append(out, u)
	}
	return out, rows.Err()
}

// RemoveESTUser deletes a user's credentials with their audit event.
func (s *Store) RemoveESTUser(ctx context.Context, user string, ev store.AuditEvent) error {
	_, err := inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		n, err := tx.Exec(ctx, `DELETE FROM est_users WHERE user_name = ?`, user)
		if err != nil {
			return struct{}{}, err
		}
		if n != 1 {
			return struct{}{}, fmt.Errorf("EST user %q: %w", user, store.ErrNotFound)
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("remove EST user: %w", err)
	}
	return nil
}
