package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

// Group commit, as in store/sqlite/batch.go: the hot writes
// (InsertCertificate, AppendAudit, RecordTimestamp, RecordSignature) go through the store's
// groupcommit.Queue, which hands up to maxBatch of them to commitOrSplit,
// one transaction. Here it matters for a second reason: every
// audit append holds the chain's advisory lock until COMMIT, so one
// instance writing a batch per lock turn instead of one request per turn is
// what lets several instances share the chain without queueing each
// certificate behind every other's commit.
//
// A batch costs a handful of round trips whatever its size: the lock and
// the tail, the certificate inserts pipelined (ON CONFLICT DO NOTHING, so a
// duplicate serial only shows in its row count and aborts nothing), then
// the audit entries of the requests that succeeded, pipelined, then COMMIT.
// If the database refuses a statement, the requests are written one by one
// so that one bad request fails alone. No caller hears of success before
// COMMIT has returned.

const maxBatch = 256

// ErrClosed is returned by writes attempted after Close.
var ErrClosed = errors.New("postgres store: closed")

// writeReq is one queued write: a certificate and its audit event, a
// registered signature and its audit event (sig != nil), an audit event
// alone (serial == "" and sig == nil), or a time-stamp record (token !=
// nil).
type writeReq struct {
	serial   string
	certArgs []any
	sig      []any
	sigDup   error       // the outcome when sig inserts no row
	sigToken []any       // the signature's time-stamp record, written with it (nil: none)
	more     []*writeReq // further audit entries after ev (signatures only; ev and evTime set)
	token    []any
	ev       store.AuditEvent
	evTime   int64
}

// submit queues r for the next batch and waits for its outcome.
func (s *Store) submit(ctx context.Context, r *writeReq) error { return s.gc.Submit(ctx, r) }

// commitOrSplit commits a batch; when the database refuses a statement of
// a batch of several, it writes each request alone, so that the one that
// caused it fails alone.
func (s *Store) commitOrSplit(batch []*writeReq, errs []error) error {
	err := s.commitBatch(batch, errs)
	var pe *pgconn.PgError
	if err == nil || len(batch) == 1 || !errors.As(err, &pe) && !errors.Is(err, errPartial) {
		return err
	}
	for i, r := range batch {
		one := []error{nil}
		if e := s.commitBatch([]*writeReq{r}, one); e != nil {
			errs[i] = e
		} else {
			errs[i] = one[0]
		}
	}
	return nil
}

// errPartial: a request of several rows (a signature and its token
// record) had some of them refused as duplicates. The batch is rolled
// back and written again one request at a time, so that the request fails
// alone and leaves no row behind.
var errPartial = errors.New("a request was written in part")

// commitBatch writes batch in one transaction and stores each request's
// own failure in errs. A non-nil result means nothing was committed.
func (s *Store) commitBatch(batch []*writeReq, errs []error) error {
	// Not a caller's context: the batch belongs to many callers.
	ctx := context.Background()
	_, err := withTx(ctx, s, func(tx pgx.Tx) (struct{}, error) {
		clear(errs)
		return struct{}{}, writeBatch(ctx, tx, batch, errs)
	})
	if err != nil {
		return fmt.Errorf("batch of %d writes: %w", len(batch), err)
	}
	s.commits.Add(1)
	return nil
}

func writeBatch(ctx context.Context, tx pgx.Tx, batch []*writeReq, errs []error) error {
	audited := slices.ContainsFunc(batch, func(r *writeReq) bool { return r.token == nil })
	if audited {
		if err := lockAuditChain(ctx, tx); err != nil {
			return err
		}
	}
	// Certificates, signatures and time-stamp records first, pipelined.
	var b pgx.Batch
	var idx []int
	for i, r := range batch {
		switch {
		case r.token != nil:
			b.Queue(rebind(sqlstore.InsertTokenSQL), r.token...)
		case r.serial != "":
			b.Queue(rebind(sqlstore.InsertCertSQL), r.certArgs...)
		case r.sig != nil:
			b.Queue(rebind(sqlstore.InsertSignatureSQL), r.sig...)
			if r.sigToken != nil {
				b.Queue(rebind(sqlstore.InsertTokenSQL), r.sigToken...)
			}
		default:
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) > 0 {
		res := tx.SendBatch(ctx, &b)
		for _, i := range idx {
			r := batch[i]
			tag, err := res.Exec()
			if err != nil {
				res.Close()
				return err
			}
			stored := tag.RowsAffected() != 0
			if r.sigToken != nil {
				tokenTag, err := res.Exec()
				if err != nil {
					res.Close()
					return err
				}
				switch tokenStored := tokenTag.RowsAffected() != 0; {
				case stored && !tokenStored && len(batch) > 1:
					res.Close()
					return errPartial // commitOrSplit writes it alone
				case stored && !tokenStored:
					res.Close()
					return fmt.Errorf("time-stamp serial already used: %w", store.ErrConflict)
				case !stored && tokenStored:
					// The signature is a duplicate, the token's row is not:
					// undo it with the batch.
					res.Close()
					if len(batch) > 1 {
						return errPartial
					}
					return r.sigDup
				}
			}
			switch {
			case stored:
			case r.sig != nil:
				errs[i] = r.sigDup
			default:
				errs[i] = fmt.Errorf("serial already used: %w", store.ErrConflict)
			}
		}
		if err := res.Close(); err != nil {
			return err
		}
	}
	if !audited {
		return nil
	}
	// Then the audit entries of the requests that stand, in batch order.
	seq, prev, err := readAuditTail(ctx, tx)
	if err != nil {
		return err
	}
	b = pgx.Batch{}
	for i, r := range batch {
		if r.token != nil || errs[i] != nil {
			continue
		}
		for _, a := range append([]*writeReq{r}, r.more...) {
			seq++
			hash := store.ChainHash(seq, prev, a.ev)
			b.Queue(rebind(sqlstore.InsertAuditSQL), seq, a.evTime, a.ev.Actor, a.ev.Action, a.ev.Object, a.ev.Result, prev, hash, a.ev.Org)
			prev = hash
		}
	}
	return tx.SendBatch(ctx, &b).Close()
}
