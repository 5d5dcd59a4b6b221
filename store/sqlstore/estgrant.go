package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/vcc/vccpki/store"
)

// PutESTGrant stores a grant, replacing one for the same certificate,
// with its audit event.
func (s *Store) PutESTGrant(ctx context.Context, g store.ESTGrant, ev store.AuditEvent) error {
	at, err := ToNanos("created_at", g.CreatedAt)
	if err != nil {
		return s.errorf("put EST grant: %w", err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		_, err := tx.Exec(ctx, `INSERT INTO est_grants (profile, serial, names, actor, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (profile, serial) DO UPDATE SET names = excluded.names, actor = excluded.actor, created_at = excluded.created_at`,
			g.Profile, g.Serial, strings.Join(g.Names, "\n"), g.Actor, at)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("put EST grant: %w", err)
	}
	return nil
}

// ESTGrant returns one grant.
func (s *Store) ESTGrant(ctx context.Context, profile, serial string) (store.ESTGrant, error) {
	g := store.ESTGrant{Profile: profile, Serial: serial}
	var names string
	var at int64
	err := s.conn.QueryRow(ctx, `SELECT names, actor, created_at FROM est_grants WHERE profile = ? AND serial = ?`, profile, serial).
		Scan(&names, &g.Actor, &at)
	if notFound(err) {
		return store.ESTGrant{}, fmt.Errorf("EST grant for %s serial %s: %w", profile, serial, store.ErrNotFound)
	}
	if err != nil {
		return store.ESTGrant{}, s.errorf("EST grant: %w", err)
	}
	g.Names, g.CreatedAt = strings.Split(names, "\n"), FromNanos(at)
	return g, nil
}

// ESTGrants returns every grant.
func (s *Store) ESTGrants(ctx context.Context) ([]store.ESTGrant, error) {
	rows, err := s.conn.Query(ctx, `SELECT profile, serial, names, actor, created_at FROM est_grants ORDER BY profile, serial`)
	if err != nil {
		return nil, s.errorf("EST grants: %w", err)
	}
	defer rows.Close()
	var out []store.ESTGrant
	for rows.Next() {
		var g store.ESTGrant
		var names string
		var at int64
		if err := rows.Scan(&g.Profile, &g.Serial, &names, &g.Actor, &at); err != nil {
			return nil, s.errorf("EST grants: %w", err)
		}
		g.Names, g.CreatedAt = strings.Split(names, "\n"), FromNanos(at)
		out = append(out, g)
	}
	return out, rows.Err()
}

// RemoveESTGrant deletes a grant with its audit event.
func (s *Store) RemoveESTGrant(ctx context.Context, profile, serial string, ev store.AuditEvent) error {
	_, err := inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		n, err := tx.Exec(ctx, `DELETE FROM est_grants WHERE profile = ? AND serial = ?`, profile, serial)
		if err != nil {
			return struct{}{}, err
		}
		if n != 1 {
			return struct{}{}, fmt.Errorf("EST grant for %s serial %s: %w", profile, serial, store.ErrNotFound)
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("remove EST grant: %w", err)
	}
	return nil
}
