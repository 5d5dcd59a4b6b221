package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/vcc/vccpki/store"
)

// The audit log is one hash chain. Appending reads the tail and inserts
// after it, so two writers must never do that at once: SQLite holds its
// write lock from BEGIN IMMEDIATE; PostgreSQL takes an advisory lock
// (Dialect.LockAuditChain) held until COMMIT or ROLLBACK, and under READ
// COMMITTED the tail read after taking it is the real tail.

// Audit statements, also used by the engines' group-commit writers.
const (
	AuditTailSQL   = `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`
	InsertAuditSQL = `INSERT INTO audit_log (seq, time, actor, action, object, result, prev_hash, hash, org)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// ReadAuditTail returns the last entry's seq and hash, or 0 and ZeroHash
// for an empty log. The caller holds the chain's lock.
func ReadAuditTail(row Row) (int64, []byte, error) {
	var (
		seq  int64
		prev []byte
	)
	err := row.Scan(&seq, &prev)
	switch {
	case notFound(err):
		return 0, store.ZeroHash, nil
	case err != nil:
		return 0, nil, fmt.Errorf("read audit tail: %w", err)
	}
	return seq, prev, nil
}

// lockAudit takes the audit chain's lock where the engine needs one.
func (s *Store) lockAudit(ctx context.Context, tx Tx) error {
	if s.d.LockAuditChain == nil {
		return nil
	}
	return s.d.LockAuditChain(ctx, tx)
}

// appendAuditLocked links ev to the tail, inside a transaction that holds
// the chain's lock (lockAudit, or SQLite's write lock).
func (s *Store) appendAuditLocked(ctx context.Context, tx Tx, ev store.AuditEvent) error {
	ev, at, err := s.AuditRow(ev)
	if err != nil {
		return err
	}
	seq, prev, err := ReadAuditTail(tx.QueryRow(ctx, AuditTailSQL))
	if err != nil {
		return err
	}
	seq++
	_, err = tx.Exec(ctx, InsertAuditSQL, seq, at, ev.Actor, ev.Action, ev.Object, ev.Result, prev, store.ChainHash(seq, prev, ev), ev.Org)
	if err != nil {
		return fmt.Errorf("insert audit entry %d: %w", seq, err)
	}
	return nil
}

// appendAudit takes the chain's lock and appends ev, for transactions
// that wrote nothing before under the lock's ordering rule.
func (s *Store) appendAudit(ctx context.Context, tx Tx, ev store.AuditEvent) error {
	if err := s.lockAudit(ctx, tx); err != nil {
		return err
	}
	return s.appendAuditLocked(ctx, tx, ev)
}

// WalkAudit streams every entry in seq order, as stored.
func (s *Store) WalkAudit(ctx context.Context, fn func(store.AuditEntry) error) error {
	return s.AuditEntries(ctx, store.AuditFilter{}, fn)
}

// AuditEntries streams the entries f selects in seq order. The filter is
// the query's: the indexes audit_log_actor, audit_log_action and
// audit_log_time serve it, and the cursor seeks the primary key.
func (s *Store) AuditEntries(ctx context.Context, f store.AuditFilter, fn func(store.AuditEntry) error) error {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+arg(ClampNanos(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < "+arg(ClampNanos(f.Until)))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.Action != "" {
		where = append(where, "action = "+arg(f.Action))
	}
	if f.Object != "" {
		where = append(where, "object "+s.d.ILike+" "+arg(likeContains(f.Object))+` ESCAPE '\'`)
	}
	if f.Org != "" {
		where = append(where, "org = "+arg(f.Org))
	}
	if f.AfterSeq > 0 {
		where = append(where, "seq > "+arg(f.AfterSeq))
	}
	q := `SELECT seq, time, actor, action, object, result, prev_hash, hash, org FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY seq`
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return s.errorf("walk audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e  store.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Object, &e.Result, &e.PrevHash, &e.Hash, &e.Org); err != nil {
			return s.errorf("walk audit: %w", err)
		}
		e.Time = FromNanos(at)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.errorf("walk audit: %w", err)
	}
	return nil
}
