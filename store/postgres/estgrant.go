package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
)

// PutESTGrant stores a grant, replacing one for the same certificate,
// with its audit event.
func (s *Store) PutESTGrant(ctx context.Context, g store.ESTGrant, ev store.AuditEvent) error {
	at, err := sqlstore.ToNanos("created_at", g.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres store: put EST grant: %w", err)
	}
	_, err = withTx(ctx, s, func(tx pgx.Tx) (struct{}, error) {
		_, err := tx.Exec(ctx, `INSERT INTO est_grants (profile, serial, names, actor, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (profile, serial) DO UPDATE SET names = excluded.names, actor = excluded.actor, created_at = excluded.created_at`,
			g.Profile, g.Serial, strings.Join(g.Names, "\n"), g.Actor, at)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("postgres store: put EST grant: %w", err)
	}
	return nil
}

// ESTGrant returns one grant.
func (s *Store) ESTGrant(ctx context.Context, profile, serial string) (store.ESTGrant, error) {
	g := store.ESTGrant{Profile: profile, Serial: serial}
	var names string
	var at int64
	err := s.pool.QueryRow(ctx, `SELECT names, actor, created_at FROM est_grants WHERE profile = $1 AND serial = $2`, profile, serial).
		Scan(&names, &g.Actor, &at)
	if notFound(err) {
		return store.ESTGrant{}, fmt.Errorf("EST grant for %s serial %s: %w", profile, serial, store.ErrNotFound)
	}
	if err != nil {
		return store.ESTGrant{}, fmt.Errorf("postgres store: EST grant: %w", err)
	}
	g.Names, g.CreatedAt = strings.Split(names, "\n"), sqlstore.FromNanos(at)
	return g, nil
}

// ESTGrants returns every grant.
func (s *Store) ESTGrants(ctx context.Context) ([]store.ESTGrant, error) {
	rows, err := s.pool.Query(ctx, `SELECT profile, serial, names, actor, created_at FROM est_grants ORDER BY profile, serial`)
	if err != nil {
		return nil, fmt.Errorf("postgres store: EST grants: %w", err)
	}
	defer rows.Close()
	var out []store.ESTGrant
	for rows.Next() {
		var g store.ESTGrant
		var names string
		var at int64
		if err := rows.Scan(&g.Profile, &g.Serial, &names, &g.Actor, &at); err != nil {
			return nil, fmt.Errorf("postgres store: EST grants: %w", err)
		}
		g.Names, g.CreatedAt = strings.Split(names, "\n"), sqlstore.FromNanos(at)
		out = append(out, g)
	}
	return out, rows.Err()
}

// RemoveESTGrant deletes a grant with its audit event.
func (s *Store) RemoveESTGrant(ctx context.Context, profile, serial string, ev store.AuditEvent) error {
	_, err := withTx(ctx, s, func(tx pgx.Tx) (struct{}, error) {
		if err := lockAuditChain(ctx, tx); err != nil {
			return struct{}{}, err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM est_grants WHERE profile = $1 AND serial = $2`, profile, serial)
		if err != nil {
			return struct{}{}, err
		}
		if tag.RowsAffected() != 1 {
			return struct{}{}, fmt.Errorf("EST grant for %s serial %s: %w", profile, serial, store.ErrNotFound)
		}
		return struct{}{}, appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("postgres store: remove EST grant: %w", err)
	}
	return nil
}
