package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

// Group commit. With synchronous=FULL every committed transaction costs a
// disk flush, so the hot writes (InsertCertificate, AppendAudit and the
// grouped ones) do not each run their own transaction: they go through the
// store's groupcommit.Queue, whose goroutine hands up to maxBatch requests
// to commitBatch, one ordinary IMMEDIATE transaction.
//
// Inside the batch each request runs under its own savepoint, so a request
// that fails (its serial already stored, also by an earlier request of the
// same batch, which the unique key sees just the same) is rolled back alone
// and writes no audit entry, while the rest of the batch commits.
// Validation happens in the caller, before the request is queued. A failure
// of the transaction as a whole (BEGIN or COMMIT, or a rollback to a
// savepoint that no longer exists because SQLite abandoned the transaction)
// fails every request of the batch. No caller hears of success before
// COMMIT has returned.

// maxBatch bounds the requests written in one transaction, and so how long
// the write lock is held at a time.
const maxBatch = 256

// ErrClosed is returned by writes attempted after Close.
var ErrClosed = errors.New("sqlite store: closed")

// writeReq is one queued write: a certificate and its audit event, a
// registered signature and its audit event (sig != nil, signature.go), an
// audit event alone (serial == "" and sig == nil), a time-stamp record
// alone (token != nil, tsa.go), or any other short write (fn != nil,
// grouped).
type writeReq struct {
	fn       func(context.Context, *cachedTx) error
	serial   string
	certArgs []any
	sig      []any
	sigDup   error      // the outcome when sig inserts no row
	sigToken []any      // the signature's time-stamp record, written with it (nil: none)
	more     []auditRow // further audit entries after ev (signatures only)
	token    []any
	ev       store.AuditEvent // normalized by auditRow
	evTime   int64
	along    store.Along // run after a certificate's audit entry (certs.go)
}

// auditRow is a normalized audit event and its time in nanoseconds.
type auditRow struct {
	ev store.AuditEvent
	at int64
}

// submit queues r for the next batch and waits for its outcome.
func (s *Store) submit(ctx context.Context, r *writeReq) error { return s.gc.Submit(ctx, r) }

// commitBatch writes batch in one transaction and stores each request's
// own failure in errs. A non-nil result means nothing was committed.
func (s *Store) commitBatch(batch []*writeReq, errs []error) error {
	// Not a caller's context: the batch belongs to many callers, and once
	// taken a request's outcome is whatever the database says.
	ctx := context.Background()
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		return struct{}{}, s.writeBatch(ctx, tx, batch, errs)
	})
	if err != nil {
		return fmt.Errorf("batch of %d writes: %w", len(batch), err)
	}
	s.commits.Add(1)
	return nil
}

func (s *Store) writeBatch(ctx context.Context, tx *cachedTx, batch []*writeReq, errs []error) error {
	if onlyTokens(batch) { // the common case under time-stamp load (tsa.go)
		return s.writeTokens(ctx, tx, batch, errs)
	}
	// The write lock is held since BEGIN IMMEDIATE, so the audit tail read
	// once stays the tail; it advances in memory as entries are added. A
	// grouped write may append to the log itself: the tail is read again
	// after one.
	var (
		seq       int64
		prev      []byte
		tailKnown bool
		err       error
	)
	insCert := tx.StmtContext(ctx, s.insertCert)
	insAudit := tx.StmtContext(ctx, s.insertAudit)
	tokens := tokenWriter{s: s, tx: tx}
	for i, r := range batch {
		if r.token != nil {
			if errs[i], err = tokens.write(ctx, r); err != nil {
				return err
			}
			continue
		}
		if r.fn == nil && !tailKnown {
			if seq, prev, err = readAuditTail(ctx, tx.StmtContext(ctx, s.auditTail)); err != nil {
				return err
			}
			tailKnown = true
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT request`); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		var (
			hash    []byte
			entries int64
		)
		if r.fn != nil {
			err, tailKnown = r.fn(ctx, tx), false
		} else {
			hash, entries, err = writeOne(ctx, tx, insCert, insAudit, r, seq, prev)
		}
		if err != nil {
			if _, rbErr := tx.ExecContext(ctx, `ROLLBACK TO request`); rbErr != nil {
				// SQLite rolled back the whole transaction (I/O error,
				// disk full, ...): the batch fails as one.
				return err
			}
			errs[i] = err
		} else if r.fn == nil {
			seq, prev = seq+entries, hash
		}
		if _, err := tx.ExecContext(ctx, `RELEASE request`); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	return nil
}

// writeOne inserts r's certificate or signature, if any, and its audit
// entries after number seq, whose hash is prev, and returns the last
// entry's hash and how many entries it wrote.
func writeOne(ctx context.Context, tx *cachedTx, insCert, insAudit *sql.Stmt, r *writeReq, seq int64, prev []byte) ([]byte, int64, error) {
	switch {
	case r.serial != "":
		n, err := affected(insCert.ExecContext(ctx, r.certArgs...))
		if err != nil {
			return nil, 0, err
		}
		if n == 0 { // ON CONFLICT DO NOTHING
			return nil, 0, fmt.Errorf("serial already used: %w", store.ErrConflict)
		}
	case r.sig != nil:
		n, err := affected(tx.ExecContext(ctx, sqlstore.InsertSignatureSQL, r.sig...))
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			return nil, 0, r.sigDup
		}
		if r.sigToken != nil {
			// Under the request's savepoint: a duplicate serial rolls the
			// signature back with it.
			n, err := affected(tx.ExecContext(ctx, sqlstore.InsertTokenSQL, r.sigToken...))
			if err != nil {
				return nil, 0, fmt.Errorf("insert time-stamp record: %w", err)
			}
			if n == 0 {
				return nil, 0, fmt.Errorf("time-stamp serial already used: %w", store.ErrConflict)
			}
		}
	}
	rows := append([]auditRow{{r.ev, r.evTime}}, r.more...)
	for _, a := range rows {
		seq++
		hash := store.ChainHash(seq, prev, a.ev)
		_, err := insAudit.ExecContext(ctx, seq, a.at, a.ev.Actor, a.ev.Action, a.ev.Object, a.ev.Result, prev, hash, a.ev.Org)
		if err != nil {
			return nil, 0, fmt.Errorf("insert audit entry %d: %w", seq, err)
		}
		prev = hash
	}
	if r.along != nil {
		// A grouped write of the shared code: it may read the audit tail
		// but never appends to the chain, so the tail stays known.
		if err := sqlstore.RunAlong(ctx, txConn{tx}, r.along); err != nil {
			return nil, 0, err
		}
	}
	return prev, int64(len(rows)), nil
}
