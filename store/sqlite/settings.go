package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/store"
)

// Setting returns a setting of the CA, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite store: setting %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite store: setting %s: %w", name, err)
	}
	return v, nil
}

// AdoptSetting stores value if name has none, with ev, and returns what is
// stored. The read and the insert share the write lock taken at BEGIN, so
// of two processes adopting at once exactly one value wins.
func (s *Store) AdoptSetting(ctx context.Context, name, value string, ev store.AuditEvent) (string, error) {
	v, err := withTx(ctx, s, func(tx *cachedTx) (string, error) {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&old)
		if err == nil {
			return old, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, value); err != nil {
			return "", err
		}
		return value, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return "", fmt.Errorf("sqlite store: adopt setting %s: %w", name, err)
	}
	return v, nil
}

// ReplaceSetting stores value under name with ev and returns the previous
// value ("" for none).
func (s *Store) ReplaceSetting(ctx context.Context, name, value string, ev store.AuditEvent) (string, error) {
	old, err := withTx(ctx, s, func(tx *cachedTx) (string, error) {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
			return "", err
		}
		return old, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return "", fmt.Errorf("sqlite store: replace setting %s: %w", name, err)
	}
	return old, nil
}
