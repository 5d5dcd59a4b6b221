package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

// CreateHierarchy stores the first keys and CA records and ev in one
// transaction, or fails with ErrConflict if any CA record exists. The
// audit lock, taken first, serialises two instances starting on an empty
// database: the second sees the first's records and gets ErrConflict.
func (s *Store) CreateHierarchy(ctx context.Context, keys []store.KeyRecord, cas []store.CARecord, ev store.AuditEvent) error {
	_, err := inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cas)`).Scan(&exists); err != nil {
			return struct{}{}, err
		}
		if exists {
			return struct{}{}, fmt.Errorf("hierarchy already exists: %w", store.ErrConflict)
		}
		if err := insertKeys(ctx, tx, keys); err != nil {
			return struct{}{}, err
		}
		for _, ca := range cas {
			if err := s.putCA(ctx, tx, ca, false); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("create hierarchy: %w", err)
	}
	return nil
}

// PutCA stores key, inserts or replaces the CA record and appends ev, in
// one transaction. Old keys stay: older certificates were signed with them.
func (s *Store) PutCA(ctx context.Context, key store.KeyRecord, ca store.CARecord, ev store.AuditEvent) error {
	_, err := inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		if err := insertKey(ctx, tx, key); err != nil {
			return struct{}{}, err
		}
		if err := s.putCA(ctx, tx, ca, true); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("put CA %s: %w", ca.Name, err)
	}
	return nil
}

// AddCAs stores new CA records and their keys and appends ev, in one
// transaction; ErrConflict if one of the names is taken.
func (s *Store) AddCAs(ctx context.Context, keys []store.KeyRecord, cas []store.CARecord, ev store.AuditEvent) error {
	_, err := inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		if err := insertKeys(ctx, tx, keys); err != nil {
			return struct{}{}, err
		}
		for _, ca := range cas {
			if err := s.putCA(ctx, tx, ca, false); err != nil {
				return struct{}{}, err
			}
			if store.OrgOf(ca.Org) != store.OperatorOrg {
				if err := claimCA(ctx, tx, ca.Org, ca.Name); err != nil {
					return struct{}{}, err
				}
			}
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("add CAs: %w", err)
	}
	return nil
}

// RevokeCA marks a CA record revoked and appends ev, in one transaction.
func (s *Store) RevokeCA(ctx context.Context, name string, at time.Time, reason int, ev store.AuditEvent) error {
	if at.IsZero() {
		return s.errorf("revoke CA %s: revocation time is required", name)
	}
	atN, err := ToNanos("revocation time", at)
	if err != nil {
		return s.errorf("revoke CA %s: %w", name, err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		n, err := tx.Exec(ctx, `UPDATE cas SET revoked_at = ?, revocation_reason = ? WHERE name = ? AND revoked_at = 0`, atN, reason, name)
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, notRevoked(ctx, tx, `SELECT EXISTS (SELECT 1 FROM cas WHERE name = ?)`, name)
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("revoke CA %s: %w", name, err)
	}
	return nil
}

// insertKeys adds keys with insertKey.
func insertKeys(ctx context.Context, tx Tx, keys []store.KeyRecord) error {
	for _, k := range keys {
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
	}
	return nil
}

// insertKey adds a key; the same record again is a no-op, the same ID with
// other contents a conflict. ON CONFLICT DO NOTHING keeps the transaction
// usable where SQLite would report the violation.
func insertKey(ctx context.Context, tx Tx, k store.KeyRecord) error {
	if k.ID == "" {
		return errors.New("key ID is required")
	}
	n, err := tx.Exec(ctx, `INSERT INTO keys (id, algorithm, sealed) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		k.ID, k.Algorithm, Blob(k.Sealed))
	if err != nil {
		return fmt.Errorf("insert key %s: %w", k.ID, err)
	}
	if n == 1 {
		return nil
	}
	var old store.KeyRecord
	if err := tx.QueryRow(ctx, `SELECT algorithm, sealed FROM keys WHERE id = ?`, k.ID).Scan(&old.Algorithm, &old.Sealed); err != nil {
		return fmt.Errorf("insert key %s: %w", k.ID, err)
	}
	if old.Algorithm != k.Algorithm || !bytes.Equal(old.Sealed, Blob(k.Sealed)) {
		return fmt.Errorf("key %s exists with different contents: %w", k.ID, store.ErrConflict)
	}
	return nil
}

func (s *Store) putCA(ctx context.Context, tx Tx, ca store.CARecord, replace bool) error {
	if ca.Name == "" {
		return errors.New("CA name is required")
	}
	if ca.CreatedAt.IsZero() {
		ca.CreatedAt = s.now()
	}
	created, err := ToNanos("CreatedAt", ca.CreatedAt)
	if err != nil {
		return fmt.Errorf("CA %s: %w", ca.Name, err)
	}
	q := `INSERT INTO cas (name, role, parent, key_id, der, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	if replace {
		q += ` ON CONFLICT (name) DO UPDATE SET role = excluded.role, parent = excluded.parent,
			key_id = excluded.key_id, der = excluded.der, created_at = excluded.created_at`
	} else {
		q += ` ON CONFLICT (name) DO NOTHING`
	}
	n, err := tx.Exec(ctx, q, ca.Name, ca.Role, ca.Parent, ca.KeyID, Blob(ca.DER), created)
	if err != nil {
		return fmt.Errorf("CA %s: %w", ca.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("CA %s given twice: %w", ca.Name, store.ErrConflict)
	}
	return nil
}

// CAs returns every CA record by CreatedAt, then Name.
func (s *Store) CAs(ctx context.Context) ([]store.CARecord, error) {
	rows, err := s.conn.Query(ctx, `SELECT name, role, parent, key_id, der, created_at, revoked_at, revocation_reason, generation, link_der FROM cas ORDER BY created_at, name`)
	if err != nil {
		return nil, s.errorf("list CAs: %w", err)
	}
	defer rows.Close()
	var out []store.CARecord
	for rows.Next() {
		var (
			ca               store.CARecord
			created, revoked int64
		)
		if err := rows.Scan(&ca.Name, &ca.Role, &ca.Parent, &ca.KeyID, &ca.DER, &created, &revoked, &ca.RevocationReason, &ca.Generation, &ca.LinkDER); err != nil {
			return nil, s.errorf("list CAs: %w", err)
		}
		ca.CreatedAt, ca.LinkDER = FromNanos(created), nilIfEmpty(ca.LinkDER)
		if revoked != 0 {
			ca.RevokedAt = FromNanos(revoked)
		}
		out = append(out, ca)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("list CAs: %w", err)
	}
	return out, nil
}

// Key returns one sealed key.
func (s *Store) Key(ctx context.Context, id string) (store.KeyRecord, error) {
	k := store.KeyRecord{ID: id}
	err := s.conn.QueryRow(ctx, `SELECT algorithm, sealed FROM keys WHERE id = ?`, id).Scan(&k.Algorithm, &k.Sealed)
	if notFound(err) {
		return store.KeyRecord{}, s.errorf("key %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.KeyRecord{}, s.errorf("key %s: %w", id, err)
	}
	return k, nil
}
