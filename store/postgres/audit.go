package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
)

// The audit log is one hash chain for every instance. Appending reads the
// tail and inserts after it, so two instances must never do that at once:
// every appending transaction first takes the advisory lock lockAudit
// (lockAuditChain), which PostgreSQL holds until COMMIT or ROLLBACK. Under
// READ COMMITTED each statement sees what committed before it started, so
// the tail read after taking the lock is the real tail, and the lock
// released at commit hands the next appender a chain that includes ours.
// A process killed mid-transaction loses its connection, the server rolls
// the transaction back and releases the lock: the chain stays whole.

// AppendAudit appends one event to the chain, through the group committer
// (batch.go) like InsertCertificate.
func (s *Store) AppendAudit(ctx context.Context, ev store.AuditEvent) error {
	r, err := auditReq(ev)
	if err == nil {
		err = s.submit(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("postgres store: append audit: %w", err)
	}
	return nil
}

// auditReq stamps an event without a time with the current one, in UTC,
// and makes it a queued write.
func auditReq(ev store.AuditEvent) (*writeReq, error) {
	ev, at, err := auditRow(ev)
	if err != nil {
		return nil, err
	}
	return &writeReq{ev: ev, evTime: at}, nil
}

const insertAuditSQL = `INSERT INTO audit_log (seq, time, actor, action, object, result, prev_hash, hash)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// readAuditTail returns the last entry's seq and hash, or 0 and ZeroHash.
// The caller holds the audit lock.
func readAuditTail(ctx context.Context, tx pgx.Tx) (int64, []byte, error) {
	var (
		seq  int64
		prev []byte
	)
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	switch {
	case notFound(err):
		return 0, store.ZeroHash, nil
	case err != nil:
		return 0, nil, fmt.Errorf("read audit tail: %w", err)
	}
	return seq, prev, nil
}

// appendAuditLocked links ev to the tail, inside a transaction that
// already holds the audit lock (lockAuditChain).
func appendAuditLocked(ctx context.Context, tx pgx.Tx, ev store.AuditEvent) error {
	ev, at, err := auditRow(ev)
	if err != nil {
		return err
	}
	seq, prev, err := readAuditTail(ctx, tx)
	if err != nil {
		return err
	}
	seq++
	_, err = tx.Exec(ctx, insertAuditSQL, seq, at, ev.Actor, ev.Action, ev.Object, ev.Result, prev, store.ChainHash(seq, prev, ev))
	if err != nil {
		return fmt.Errorf("insert audit entry %d: %w", seq, err)
	}
	return nil
}

// appendAudit takes the audit lock and appends ev, for transactions that
// write nothing else under the lock's ordering rule.
func appendAudit(ctx context.Context, tx pgx.Tx, ev store.AuditEvent) error {
	if err := lockAuditChain(ctx, tx); err != nil {
		return err
	}
	return appendAuditLocked(ctx, tx, ev)
}

// WalkAudit streams every entry in seq order, as stored.
func (s *Store) WalkAudit(ctx context.Context, fn func(store.AuditEntry) error) error {
	rows, err := s.pool.Query(ctx, `SELECT seq, time, actor, action, object, result, prev_hash, hash
		FROM audit_log ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("postgres store: walk audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e  store.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Object, &e.Result, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("postgres store: walk audit: %w", err)
		}
		e.Time = sqlstore.FromNanos(at)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres store: walk audit: %w", err)
	}
	return nil
}
