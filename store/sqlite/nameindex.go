package sqlite

import (
	"context"
	"fmt"
	"time"
)

// The name search index, filled in batches off the issuance path (migration
// 0023, issue 19). Inserting a certificate queues its serial in
// certificates_names_pending (a trigger); the indexer of the serving process
// moves queued certificates into the FTS5 table certificates_names, one
// transaction per batch, through the writer slot like every other write of
// this process (withTx). Other processes (the CLI issuing offline) queue
// rows too; whichever process runs an index pass next, or closes its store,
// moves them. A crash leaves rows queued for the next pass. nameIndex
// (sqlite.go) searches the queued certificates as well, so results never
// depend on whether a pass has run.

// nameIndexBatch bounds the certificates moved in one transaction, and so
// how long one pass holds the write lock.
const nameIndexBatch = 1000

// nameIndexEvery is how often the serving process looks for queued rows.
const nameIndexEvery = time.Second

// Batch move: the certificates of the oldest nameIndexBatch queued rows
// (a serial queued twice is moved once; one no longer in certificates not
// at all), then those rows dequeued. Both under one write lock.
const (
	nameIndexLastSQL = `SELECT max(id) FROM (SELECT id FROM certificates_names_pending ORDER BY id LIMIT ?)`
	nameIndexMoveSQL = `INSERT INTO certificates_names (serial, subject, names)
		SELECT serial, subject, names FROM certificates
		WHERE serial IN (SELECT serial FROM certificates_names_pending WHERE id <= ?)`
	nameIndexDequeueSQL = `DELETE FROM certificates_names_pending WHERE id <= ?`
	nameIndexAnySQL     = `SELECT EXISTS (SELECT 1 FROM certificates_names_pending)`
)

// runNameIndexer runs index passes every interval until stop is closed,
// then closes done. An idle tick costs one read, no write transaction.
// A failed pass is retried at the next tick (or by Close, which reports
// its own failure).
func (s *Store) runNameIndexer(interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			_, _ = s.indexNames(context.Background(), stop)
		}
	}
}

// indexNames moves every queued row into the index, a batch per
// transaction, and returns how many queued rows it took; it stops early,
// between batches, once stop is closed (nil: never).
func (s *Store) indexNames(ctx context.Context, stop <-chan struct{}) (int64, error) {
	var total int64
	for {
		var queued bool
		if err := s.q.QueryRowContext(ctx, nameIndexAnySQL).Scan(&queued); err != nil {
			return total, fmt.Errorf("sqlite store: name index: %w", err)
		}
		if !queued {
			return total, nil
		}
		n, err := withTx(ctx, s, func(tx *cachedTx) (int64, error) {
			var last *int64
			if err := tx.QueryRowContext(ctx, nameIndexLastSQL, nameIndexBatch).Scan(&last); err != nil || last == nil {
				return 0, err // nil: another process emptied the queue
			}
			if _, err := tx.ExecContext(ctx, nameIndexMoveSQL, *last); err != nil {
				return 0, err
			}
			return affected(tx.ExecContext(ctx, nameIndexDequeueSQL, *last))
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlite store: name index: %w", err)
		}
		if n < nameIndexBatch {
			return total, nil
		}
		select {
		case <-stop:
			return total, nil
		default:
		}
	}
}
