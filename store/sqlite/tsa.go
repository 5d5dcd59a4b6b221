package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/store"
)

var _ store.TimestampStore = (*Store)(nil)

const (
	tokenColumns   = `serial, gen_time, hash, imprint, policy`
	insertTokenSQL = `INSERT INTO timestamp_tokens (` + tokenColumns + `) VALUES (?, ?, ?, ?, ?)`
)

// ReserveTimestampSerials implements store.TimestampStore. The counter row
// is updated under the database write lock (BEGIN IMMEDIATE), so processes
// sharing the file get disjoint blocks, and synchronous=FULL makes the
// reservation survive a crash before any serial of it is used.
func (s *Store) ReserveTimestampSerials(ctx context.Context, n int64) (int64, error) {
	if n <= 0 || n > 1<<40 {
		return 0, fmt.Errorf("sqlite store: reserve %d time-stamp serials: need 1 to 2^40", n)
	}
	next, err := withTx(ctx, s, func(tx *cachedTx) (int64, error) {
		var next int64
		err := tx.QueryRowContext(ctx, `INSERT INTO timestamp_serials (id, next) VALUES (1, 1 + ?)
			ON CONFLICT (id) DO UPDATE SET next = next + excluded.next - 1
			RETURNING next`, n).Scan(&next)
		return next, err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite store: reserve time-stamp serials: %w", err)
	}
	return next - n, nil
}

// RecordTimestamp implements store.TimestampStore through the group
// committer (batch.go): the record shares its transaction with whatever
// else is queued, and RecordTimestamp returns after that COMMIT.
func (s *Store) RecordTimestamp(ctx context.Context, r store.TimestampRecord) error {
	args, err := tokenArgs(r)
	if err == nil {
		err = s.submit(ctx, &writeReq{token: args})
	}
	if err != nil {
		return fmt.Errorf("sqlite store: record time-stamp %d: %w", r.Serial, err)
	}
	return nil
}

// tokenWriter inserts the token records of one batch transaction. A token
// is one INSERT, which SQLite undoes alone when it fails a constraint
// (the statement's own rollback), so it needs no savepoint: a duplicate
// serial fails that request only, any other error the whole batch.
type tokenWriter struct {
	s    *Store
	tx   *cachedTx
	stmt *sql.Stmt
}

func (w *tokenWriter) write(ctx context.Context, r *writeReq) (requestErr, batchErr error) {
	if w.stmt == nil {
		w.stmt = w.tx.StmtContext(ctx, w.s.insertToken)
	}
	_, err := w.stmt.ExecContext(ctx, r.token...)
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("serial already used: %w", store.ErrConflict), nil
	case err != nil:
		return nil, fmt.Errorf("insert time-stamp record: %w", err)
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

// TimestampBySerial implements store.TimestampStore.
func (s *Store) TimestampBySerial(ctx context.Context, serial int64) (store.TimestampRecord, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM timestamp_tokens WHERE serial = ?`, serial)
	r, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("sqlite store: time-stamp %d: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("sqlite store: time-stamp %d: %w", serial, err)
	}
	return r, nil
}

// TimestampsByImprint implements store.TimestampStore.
func (s *Store) TimestampsByImprint(ctx context.Context, imprint []byte) ([]store.TimestampRecord, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+tokenColumns+` FROM timestamp_tokens WHERE imprint = ? ORDER BY serial`, blob(imprint))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: time-stamps by imprint: %w", err)
	}
	defer rows.Close()
	var out []store.TimestampRecord
	for rows.Next() {
		r, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: time-stamps by imprint: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanToken(sc scanner) (store.TimestampRecord, error) {
	var (
		r  store.TimestampRecord
		at int64
	)
	if err := sc.Scan(&r.Serial, &at, &r.Hash, &r.Imprint, &r.Policy); err != nil {
		return r, err
	}
	r.Time = fromNanos(at)
	return r, nil
}
