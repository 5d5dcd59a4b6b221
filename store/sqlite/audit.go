package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

// AppendAudit appends one event to the hash chain.
func (s *Store) AppendAudit(ctx context.Context, ev store.AuditEvent) error {
	_, err := withTx(ctx, s, func(tx *sql.Tx) (struct{}, error) {
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: append audit: %w", err)
	}
	return nil
}

// appendAudit links ev to the last entry. It must run inside a write
// transaction: BEGIN IMMEDIATE holds the database write lock from the
// start, so no other writer, in this process or another, can append
// between reading the tail and inserting after it.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, ev store.AuditEvent) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	// ChainHash uses UnixNano of the UTC time, which is exactly what is
	// stored, so the hash recomputed from a read-back entry matches.
	ev.Time = ev.Time.UTC()
	at, err := toNanos("audit time", ev.Time)
	if err != nil {
		return err
	}
	var (
		seq  int64
		prev []byte
	)
	err = tx.StmtContext(ctx, s.auditTail).QueryRowContext(ctx).Scan(&seq, &prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		seq, prev = 0, store.ZeroHash
	case err != nil:
		return fmt.Errorf("read audit tail: %w", err)
	}
	seq++
	_, err = tx.StmtContext(ctx, s.insertAudit).ExecContext(ctx,
		seq, at, ev.Actor, ev.Action, ev.Object, ev.Result, prev, store.ChainHash(seq, prev, ev))
	if err != nil {
		return fmt.Errorf("insert audit entry %d: %w", seq, err)
	}
	return nil
}

const (
	auditTailSQL   = `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`
	insertAuditSQL = `INSERT INTO audit_log (seq, time, actor, action, object, result, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
)

// WalkAudit streams every entry in seq order, as stored.
func (s *Store) WalkAudit(ctx context.Context, fn func(store.AuditEntry) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, time, actor, action, object, result, prev_hash, hash
		FROM audit_log ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("sqlite store: walk audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e  store.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Object, &e.Result, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("sqlite store: walk audit: %w", err)
		}
		e.Time = fromNanos(at)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite store: walk audit: %w", err)
	}
	return nil
}
