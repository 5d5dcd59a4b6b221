package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
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
	r, err := s.auditReq(ev)
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
func (s *Store) auditReq(ev store.AuditEvent) (*writeReq, error) {
	ev, at, err := s.AuditRow(ev)
	if err != nil {
		return nil, err
	}
	return &writeReq{ev: ev, evTime: at}, nil
}

// readAuditTail returns the last entry's seq and hash, or 0 and ZeroHash.
// The caller holds the audit lock.
func readAuditTail(ctx context.Context, tx pgx.Tx) (int64, []byte, error) {
	return sqlstore.ReadAuditTail(row{tx.QueryRow(ctx, sqlstore.AuditTailSQL)})
}
