package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

var _ store.TimestampStore = (*Store)(nil)

// RecordTimestamp implements store.TimestampStore through the group
// committer (batch.go): the record shares its transaction with whatever
// else is queued, and RecordTimestamp returns after that COMMIT.
func (s *Store) RecordTimestamp(ctx context.Context, r store.TimestampRecord) error {
	args, err := sqlstore.TokenArgs(r)
	if err == nil {
		err = s.submit(ctx, &writeReq{token: args})
	}
	if err != nil {
		return fmt.Errorf("sqlite store: record time-stamp %d: %w", r.Serial, err)
	}
	return nil
}

// tokenWriter inserts the token records of one batch transaction. A token
// is one INSERT, which inserts nothing for a duplicate serial (ON CONFLICT
// DO NOTHING), so it needs no savepoint: a duplicate serial fails that
// request only, any other error the whole batch.
type tokenWriter struct {
	s    *Store
	tx   *cachedTx
	stmt *sql.Stmt
}

func (w *tokenWriter) write(ctx context.Context, r *writeReq) (requestErr, batchErr error) {
	if w.stmt == nil {
		w.stmt = w.tx.StmtContext(ctx, w.s.insertToken)
	}
	n, err := affected(w.stmt.ExecContext(ctx, r.token...))
	switch {
	case err != nil:
		return nil, fmt.Errorf("insert time-stamp record: %w", err)
	case n == 0: // ON CONFLICT DO NOTHING
		return fmt.Errorf("serial already used: %w", store.ErrConflict), nil
	}
	return nil, nil
}

func onlyTokens(batch []*writeReq) bool {
	for _, r := range batch {
		if r.token == nil {
			return false
		}
	}
	return true
}

// writeTokens writes a batch of time-stamp records alone: no audit entry
// is among them, so the audit chain's tail need not be read.
func (s *Store) writeTokens(ctx context.Context, tx *cachedTx, batch []*writeReq, errs []error) error {
	w := tokenWriter{s: s, tx: tx}
	for i, r := range batch {
		var err error
		if errs[i], err = w.write(ctx, r); err != nil {
			return err
		}
	}
	return nil
}
