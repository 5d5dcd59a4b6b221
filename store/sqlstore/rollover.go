package sqlstore

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
)

// RolloverCA replaces CA records in one transaction, moving the replaced
// generation of each record that names a Generation to ca_generations
// (with its link certificate) and storing the new one's link certificate.
func (s *Store) RolloverCA(ctx context.Context, keys []store.KeyRecord, cas []store.CARecord, ev store.AuditEvent) error {
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	retired, err := ToNanos("retirement time", ev.Time)
	if err != nil {
		return s.errorf("roll over CAs: %w", err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		if err := insertKeys(ctx, tx, keys); err != nil {
			return struct{}{}, err
		}
		for _, ca := range cas {
			var old store.CARecord
			var created int64
			err := tx.QueryRow(ctx, `SELECT role, parent, key_id, der, created_at, generation, link_der FROM cas WHERE name = ?`, ca.Name).
				Scan(&old.Role, &old.Parent, &old.KeyID, &old.DER, &created, &old.Generation, &old.LinkDER)
			if notFound(err) {
				return struct{}{}, fmt.Errorf("CA %s: %w", ca.Name, store.ErrNotFound)
			}
			if err != nil {
				return struct{}{}, fmt.Errorf("CA %s: %w", ca.Name, err)
			}
			if ca.Generation != 0 {
				if ca.Generation != old.Generation+1 {
					return struct{}{}, fmt.Errorf("CA %s is at generation %d, not %d: %w", ca.Name, old.Generation, ca.Generation-1, store.ErrConflict)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO ca_generations (name, generation, role, parent, key_id, der, created_at, retired_at, link_der) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					ca.Name, old.Generation, old.Role, old.Parent, old.KeyID, Blob(old.DER), created, retired, Blob(old.LinkDER)); err != nil {
					return struct{}{}, fmt.Errorf("retiring CA %s generation %d: %w", ca.Name, old.Generation, err)
				}
			}
			if err := s.putCA(ctx, tx, ca, true); err != nil {
				return struct{}{}, err
			}
			if ca.Generation != 0 {
				if _, err := tx.Exec(ctx, `UPDATE cas SET generation = ?, link_der = ? WHERE name = ?`, ca.Generation, Blob(ca.LinkDER), ca.Name); err != nil {
					return struct{}{}, fmt.Errorf("CA %s: %w", ca.Name, err)
				}
			}
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("roll over CAs: %w", err)
	}
	return nil
}

// RetiredCAs returns the retired generations by name, then generation.
func (s *Store) RetiredCAs(ctx context.Context) ([]store.CARecord, error) {
	rows, err := s.conn.Query(ctx, `SELECT name, generation, role, parent, key_id, der, created_at, retired_at, link_der FROM ca_generations ORDER BY name, generation`)
	if err != nil {
		return nil, s.errorf("list retired CAs: %w", err)
	}
	defer rows.Close()
	var out []store.CARecord
	for rows.Next() {
		var ca store.CARecord
		var created, retired int64
		if err := rows.Scan(&ca.Name, &ca.Generation, &ca.Role, &ca.Parent, &ca.KeyID, &ca.DER, &created, &retired, &ca.LinkDER); err != nil {
			return nil, s.errorf("list retired CAs: %w", err)
		}
		ca.CreatedAt, ca.RetiredAt = FromNanos(created), FromNanos(retired)
		ca.LinkDER = nilIfEmpty(ca.LinkDER)
		out = append(out, ca)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("list retired CAs: %w", err)
	}
	return out, nil
}

// nilIfEmpty returns nil for an empty (NOT NULL DEFAULT ”) blob column.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
