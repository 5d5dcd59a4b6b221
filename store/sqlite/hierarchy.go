package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

// CreateHierarchy stores the first keys and CA records and ev in one
// transaction, or fails with ErrConflict if any CA record exists. The check
// runs under the write lock taken at BEGIN, so of two processes starting on
// an empty store exactly one creates the hierarchy.
func (s *Store) CreateHierarchy(ctx context.Context, keys []store.KeyRecord, cas []store.CARecord, ev store.AuditEvent) error {
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM cas)`).Scan(&exists); err != nil {
			return struct{}{}, err
		}
		if exists {
			return struct{}{}, fmt.Errorf("hierarchy already exists: %w", store.ErrConflict)
		}
		for _, k := range keys {
			if err := insertKey(ctx, tx, k); err != nil {
				return struct{}{}, err
			}
		}
		for _, ca := range cas {
			if err := putCA(ctx, tx, ca, false); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: create hierarchy: %w", err)
	}
	return nil
}

// PutCA stores key, then inserts or replaces the CA record named ca.Name,
// and appends ev, in one transaction. The replaced record's old key stays:
// keys are never deleted, since older certificates were signed with them.
func (s *Store) PutCA(ctx context.Context, key store.KeyRecord, ca store.CARecord, ev store.AuditEvent) error {
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		if err := insertKey(ctx, tx, key); err != nil {
			return struct{}{}, err
		}
		if err := putCA(ctx, tx, ca, true); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: put CA %s: %w", ca.Name, err)
	}
	return nil
}

// insertKey adds a key. Storing the same record again is a no-op (a CA
// re-certified with its existing key); the same ID with different contents
// is a conflict, since overwriting sealed key material would orphan
// whatever was signed with it.
func insertKey(ctx context.Context, tx *cachedTx, k store.KeyRecord) error {
	if k.ID == "" {
		return errors.New("key ID is required")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO keys (id, algorithm, sealed) VALUES (?, ?, ?)`,
		k.ID, k.Algorithm, blob(k.Sealed))
	if !isUniqueViolation(err) {
		if err != nil {
			return fmt.Errorf("insert key %s: %w", k.ID, err)
		}
		return nil
	}
	var old store.KeyRecord
	err = tx.QueryRowContext(ctx, `SELECT algorithm, sealed FROM keys WHERE id = ?`, k.ID).Scan(&old.Algorithm, &old.Sealed)
	if err != nil {
		return fmt.Errorf("insert key %s: %w", k.ID, err)
	}
	if old.Algorithm != k.Algorithm || !bytes.Equal(old.Sealed, k.Sealed) {
		return fmt.Errorf("key %s exists with different contents: %w", k.ID, store.ErrConflict)
	}
	return nil
}

func putCA(ctx context.Context, tx *cachedTx, ca store.CARecord, replace bool) error {
	if ca.Name == "" {
		return errors.New("CA name is required")
	}
	if ca.CreatedAt.IsZero() {
		ca.CreatedAt = time.Now()
	}
	created, err := toNanos("CreatedAt", ca.CreatedAt)
	if err != nil {
		return fmt.Errorf("CA %s: %w", ca.Name, err)
	}
	q := `INSERT INTO cas (name, role, parent, key_id, der, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	if replace {
		q += ` ON CONFLICT (name) DO UPDATE SET role = excluded.role, parent = excluded.parent,
			key_id = excluded.key_id, der = excluded.der, created_at = excluded.created_at`
	}
	_, err = tx.ExecContext(ctx, q, ca.Name, ca.Role, ca.Parent, ca.KeyID, blob(ca.DER), created)
	if isUniqueViolation(err) {
		return fmt.Errorf("CA %s given twice: %w", ca.Name, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("CA %s: %w", ca.Name, err)
	}
	return nil
}

// CAs returns every CA record by CreatedAt, then Name.
func (s *Store) CAs(ctx context.Context) ([]store.CARecord, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT name, role, parent, key_id, der, created_at
		FROM cas ORDER BY created_at, name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list CAs: %w", err)
	}
	defer rows.Close()
	var out []store.CARecord
	for rows.Next() {
		var (
			ca      store.CARecord
			created int64
		)
		if err := rows.Scan(&ca.Name, &ca.Role, &ca.Parent, &ca.KeyID, &ca.DER, &created); err != nil {
			return nil, fmt.Errorf("sqlite store: list CAs: %w", err)
		}
		ca.CreatedAt = fromNanos(created)
		out = append(out, ca)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list CAs: %w", err)
	}
	return out, nil
}

// Key returns one sealed key.
func (s *Store) Key(ctx context.Context, id string) (store.KeyRecord, error) {
	k := store.KeyRecord{ID: id}
	err := s.q.QueryRowContext(ctx, `SELECT algorithm, sealed FROM keys WHERE id = ?`, id).Scan(&k.Algorithm, &k.Sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return store.KeyRecord{}, fmt.Errorf("sqlite store: key %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.KeyRecord{}, fmt.Errorf("sqlite store: key %s: %w", id, err)
	}
	return k, nil
}
