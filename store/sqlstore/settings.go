package sqlstore

import (
	"context"

	"github.com/vcc/vccpki/store"
)

// Setting returns a setting of the CA, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.conn.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if notFound(err) {
		return "", s.errorf("setting %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return "", s.errorf("setting %s: %w", name, err)
	}
	return v, nil
}

// AdoptSetting stores value if name has none, with ev, and returns what is
// stored. The chain's lock, taken first, serialises two processes adopting
// at once: the second reads the first's value.
func (s *Store) AdoptSetting(ctx context.Context, name, value string, ev store.AuditEvent) (string, error) {
	v, err := inTx(ctx, s, func(tx Tx) (string, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return "", err
		}
		var old string
		err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&old)
		if err == nil {
			return old, nil
		}
		if !notFound(err) {
			return "", err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, value); err != nil {
			return "", err
		}
		return value, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return "", s.errorf("adopt setting %s: %w", name, err)
	}
	return v, nil
}

// ReplaceSetting stores value under name with ev and returns the previous
// value ("" for none).
func (s *Store) ReplaceSetting(ctx context.Context, name, value string, ev store.AuditEvent) (string, error) {
	old, err := inTx(ctx, s, func(tx Tx) (string, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return "", err
		}
		var old string
		err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&old)
		if err != nil && !notFound(err) {
			return "", err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
			return "", err
		}
		return old, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return "", s.errorf("replace setting %s: %w", name, err)
	}
	return old, nil
}
