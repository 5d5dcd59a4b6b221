package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/store"
)

// AppendAudit appends one event to the hash chain. It goes through the
// group committer (batch.go), like InsertCertificate.
func (s *Store) AppendAudit(ctx context.Context, ev store.AuditEvent) error {
	ev, at, err := auditRow(ev)
	if err == nil {
		err = s.submit(ctx, &writeReq{ev: ev, evTime: at})
	}
	if err != nil {
		return fmt.Errorf("sqlite store: append audit: %w", err)
	}
	return nil
}

// readAuditTail returns the last entry's seq and hash, or 0 and ZeroHash
// for an empty log; tail is the auditTail statement.
func readAuditTail(ctx context.Context, tail *sql.Stmt) (int64, []byte, error) {
	var (
		seq  int64
		prev []byte
	)
	err := tail.QueryRowContext(ctx).Scan(&seq, &prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, store.ZeroHash, nil
	case err != nil:
		return 0, nil, fmt.Errorf("read audit tail: %w", err)
	}
	return seq, prev, nil
}

// appendAudit links ev to the last entry, for the writes that do not go
// through the group committer (Revoke, CreateHierarchy, PutCA). It must
// run inside a write transaction: BEGIN IMMEDIATE holds the database write
// lock from the start, so no other writer, in this process or another, can
// append between reading the tail and inserting after it.
func (s *Store) appendAudit(ctx context.Context, tx *cachedTx, ev store.AuditEvent) error {
	ev, at, err := auditRow(ev)
	if err != nil {
		return err
	}
	seq, prev, err := readAuditTail(ctx, tx.StmtContext(ctx, s.auditTail))
	if err != nil {
		return err
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
	rows, err := s.q.QueryContext(ctx, `SELECT seq, time, actor, action, object, result, prev_hash, hash
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
