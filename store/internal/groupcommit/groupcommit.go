// Package groupcommit is the queue both SQL stores put their hot writes
// through: callers submit a request and wait; one goroutine per store
// hands whatever is queued, up to a bound, to the store's commit function,
// which writes it in one transaction, then tells every caller its own
// outcome. Requests arriving while a batch commits wait for the next one;
// a lone request is taken at once, never held back for company. No caller
// hears of success before the commit function has returned.
package groupcommit

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Commit writes batch in one transaction and stores each request's own
// failure in errs (as long as batch, cleared). A non-nil result means
// nothing was committed and fails every request of the batch.
type Commit[R any] func(batch []R, errs []error) error

// Request states; a request moves from queued to exactly one of the others.
const (
	queued    int32 = iota
	taken           // in a batch: the caller waits for the outcome
	cancelled       // the caller gave up first: never written
)

type item[R any] struct {
	r     R
	state atomic.Int32
	done  chan error // buffered; receives exactly one outcome once taken
	at    time.Time  // when it was queued
}

// Queue is one store's group-commit queue and its committer goroutine.
type Queue[R any] struct {
	max       int
	commit    Commit[R]
	errClosed error

	mu     sync.Mutex
	queue  []*item[R]
	closed bool
	wake   chan struct{} // capacity 1: "the queue or closed changed"
	done   chan struct{} // closed when the committer goroutine has exited

	taken atomic.Int64 // requests taken into batches, for tests
}

// Start returns a queue whose goroutine commits batches of at most max
// requests with commit; errClosed is what Submit returns after Close.
func Start[R any](max int, commit Commit[R], errClosed error) *Queue[R] {
	q := &Queue[R]{max: max, commit: commit, errClosed: errClosed,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *Queue[R]) signal() {
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Submit queues r and waits for its outcome. If ctx ends before the
// committer takes r, r is dropped and ctx.Err() returned; once taken, the
// caller waits for the real outcome, since the write may commit.
func (q *Queue[R]) Submit(ctx context.Context, r R) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	it := &item[R]{r: r, done: make(chan error, 1), at: time.Now()}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return q.errClosed
	}
	q.queue = append(q.queue, it)
	q.mu.Unlock()
	q.signal()
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		if it.state.CompareAndSwap(queued, cancelled) {
			return ctx.Err() // the committer will skip it
		}
		return <-it.done
	}
}

// Close stops taking requests (Submit then fails with errClosed), waits
// until what was queued before is written, and reports whether this call
// closed the queue (false if it was closed already). Calling it again is
// harmless.
func (q *Queue[R]) Close() bool {
	q.mu.Lock()
	first := !q.closed
	q.closed = true
	q.mu.Unlock()
	q.signal()
	<-q.done
	return first
}

// Queued is how many requests wait to be taken; Taken how many were taken
// into batches so far; Closing whether Close has begun. For tests.
func (q *Queue[R]) Queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

func (q *Queue[R]) Taken() int64 { return q.taken.Load() }

func (q *Queue[R]) Closing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// take blocks until requests are queued and moves up to max of them into
// buf, skipping cancelled ones. It returns nil once the queue is closed
// and empty.
func (q *Queue[R]) take(buf []*item[R]) []*item[R] {
	for {
		q.mu.Lock()
		n := 0
		for n < len(q.queue) && len(buf) < q.max {
			it := q.queue[n]
			n++
			if it.state.CompareAndSwap(queued, taken) {
				buf = append(buf, it)
			}
		}
		rest := copy(q.queue, q.queue[n:])
		clear(q.queue[rest:]) // let the garbage collector have them
		q.queue = q.queue[:rest]
		closed := q.closed
		q.mu.Unlock()
		q.taken.Add(int64(len(buf)))
		switch {
		case len(buf) > 0:
			return buf
		case closed:
			return nil // rest is 0 here: buf would hold a request otherwise
		}
		<-q.wake
	}
}

// run is the committer goroutine. After Close it still writes what was
// queued before, then exits.
func (q *Queue[R]) run() {
	defer close(q.done)
	var (
		buf   []*item[R]
		batch []R
		errs  []error
	)
	for {
		buf = q.take(buf[:0])
		if buf == nil {
			return
		}
		start := time.Now()
		batch = batch[:0]
		for _, it := range buf {
			batch = append(batch, it.r)
			queueTime.Observe(start.Sub(it.at).Seconds())
		}
		errs = slices.Grow(errs[:0], len(batch))[:len(batch)]
		clear(errs)
		err := q.commit(batch, errs)
		commitTime.Observe(time.Since(start).Seconds())
		batchSize.Observe(float64(len(batch)))
		for i, it := range buf {
			if err != nil {
				errs[i] = err
			}
			it.done <- errs[i]
		}
		clear(buf)   // drop the references until the next batch
		clear(batch) // likewise
	}
}
