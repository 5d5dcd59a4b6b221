package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

// AppendAudit appends one event to the hash chain. It goes through the
// group committer (batch.go), like InsertCertificate.
func (s *Store) AppendAudit(ctx context.Context, ev store.AuditEvent) error {
	ev, at, err := s.AuditRow(ev)
	if err == nil {
		err = s.submit(ctx, &writeReq{ev: ev, evTime: at})
	}
	if err != nil {
		return fmt.Errorf("sqlite store: append audit: %w", err)
	}
	return nil
}

// readAuditTail reads the tail through the prepared auditTail statement.
func readAuditTail(ctx context.Context, tail *sql.Stmt) (int64, []byte, error) {
	return sqlstore.ReadAuditTail(row{tail.QueryRowContext(ctx)})
}
