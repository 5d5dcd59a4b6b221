package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
)

// Setting returns a setting of the CA, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if notFound(err) {
		return "", fmt.Errorf("postgres store: setting %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("postgres store: setting %s: %w", name, err)
	}
	return v, nil
}

// AdoptSetting stores value if name has none, with ev, and returns what is
// stored. The audit lock, taken first, serialises two instances adopting
// at once: the second reads the first's value.
func (s *Store) AdoptSetting(ctx context.Context, name, value string, ev store.AuditEvent) (string, error) {
	v, err := withTx(ctx, s, func(tx pgx.Tx) (string, error) {
		if err := lockAuditChain(ctx, tx); err != nil {
			return "", err
		}
		var old string
		err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&old)
		if err == nil {
			return old, nil
		}
		if !notFound(err) {
			return "", err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)`, name, value); err != nil {
			return "", err
		}
		return value, appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return "", fmt.Errorf("postgres store: adopt setting %s: %w", name, err)
	}
	return v, nil
}

// ReplaceSetting stores value under name with ev and returns the previous
// value ("" for none).
func (s *Store) ReplaceSetting(ctx context.Context, name, value string, ev store.AuditEvent) (string, error) {
	old, err := withTx(ctx, s, func(tx pgx.Tx) (string, error) {
		if err := lockAuditChain(ctx, tx); err != nil {
			return "", err
		}
		var old string
		err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&old)
		if err != nil && !notFound(err) {
			return "", err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
			return "", err
		}
		return old, appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return "", fmt.Errorf("postgres store: replace setting %s: %w", name, err)
	}
	return old, nil
}
