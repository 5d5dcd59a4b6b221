package ocsp

import (
	"context"
	"crypto"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/vcc/vccpki/ca"
)

// changePage is how many changes one read of the change feed returns.
const changePage = 500

// keepChanges is how long the store keeps the change feed. A responder
// that was stopped longer starts over with a full pass anyway.
const keepChanges = 7 * 24 * time.Hour

// Run does the responder's background work until ctx is done: the first
// pre-signing pass, following the store's change feed, re-signing before
// responses age, and keeping the CRLs current. It returns once all of it
// has stopped.
func (r *Responder) Run(ctx context.Context) {
	cursor, ok := retry(ctx, r.cfg.Log, "reading the change feed", func() (int64, error) { return r.e.LastStatusChange(ctx) })
	if !ok {
		return
	}
	r.follow.Lock()
	r.cursor = cursor
	r.follow.Unlock()
	// A CRL built elsewhere is served here only if it includes every
	// change up to where this responder starts following.
	r.crls.needAll(cursor)
	var wg sync.WaitGroup
	wg.Go(func() { r.followChanges(ctx) })
	wg.Go(func() { r.crls.run(ctx) })
	wg.Go(func() { r.refreshTables(ctx) })
	wg.Go(func() { r.followCAs(ctx) })
	wg.Wait()
}

// retry calls fn until it succeeds or ctx ends, logging failures.
func retry[T any](ctx context.Context, log interface{ Error(string, ...any) }, what string, fn func() (T, error)) (T, bool) {
	delay := 100 * time.Millisecond
	for {
		v, err := fn()
		if err == nil {
			return v, true
		}
		if ctx.Err() != nil {
			return v, false
		}
		log.Error("ocsp: "+what, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return v, false
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// followChanges applies the store's change feed every PollInterval, so
// that a revocation by any process is served within about that long.
func (r *Responder) followChanges(ctx context.Context) {
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.follow.Lock()
			err := r.applyChanges(ctx, &r.cursor, nil)
			r.follow.Unlock()
			if err != nil && ctx.Err() == nil {
				r.cfg.Log.Error("ocsp: following the change feed", "err", err)
			}
		case <-prune.C:
			if err := r.e.PruneStatusChanges(ctx, keepChanges); err != nil && ctx.Err() == nil {
				r.cfg.Log.Warn("ocsp: pruning the change feed", "err", err)
			}
			if r.cfg.Shared != nil {
				if _, err := r.cfg.Shared.PruneOCSPResponses(ctx, r.cfg.Now()); err != nil && ctx.Err() == nil {
					r.cfg.Log.Warn("ocsp: pruning shared pre-signed responses", "err", err)
				}
			}
		}
	}
}

// applyChanges applies every change after *cursor and advances it. With
// only set, it applies them to that one table (of a rebuild) instead of
// the live ones. The caller holds r.follow.
func (r *Responder) applyChanges(ctx context.Context, cursor *int64, only *rebuildTarget) error {
	for {
		changes, next, err := r.e.StatusChanges(ctx, *cursor, changePage)
		if err != nil {
			return err
		}
		r.pageEnd = next
		for _, ch := range changes {
			if only != nil {
				if ch.Issuer == only.is.name {
					r.applyTo(ctx, only.is, only.hash, only.t, ch)
				}
				continue
			}
			r.apply(ctx, ch)
		}
		r.storeShared(ctx, r.toShare)
		r.toShare = r.toShare[:0]
		*cursor = next
		if len(changes) < changePage {
			return nil
		}
	}
}

type rebuildTarget struct {
	is   *issuer
	hash crypto.Hash
	t    *table
}

// apply brings the live tables and CRLs up to date with one change.
func (r *Responder) apply(ctx context.Context, ch ca.SerialStatus) {
	if ch.Status == ca.Revoked {
		// The page being applied ends at r.pageEnd: a CRL that includes
		// the feed up to there includes this revocation.
		r.crls.markDirty(ch.Issuer, 0, r.pageEnd)
		if ch.CRLShard > 0 {
			r.crls.markDirty(ch.Issuer, ch.CRLShard, r.pageEnd)
		}
	}
	for _, is := range r.issuerList() {
		if is.name != ch.Issuer {
			continue
		}
		for _, h := range supportedHashes {
			r.applyTo(ctx, is, h, is.table(h), ch)
		}
	}
}

// applyTo re-signs one serial's response in one table. A new certificate
// is signed into the pre-signed tables; a revocation into every table,
// unconditionally, so that a live answer signed from an older status can
// never stay behind (see answer's putIfAbsent).
func (r *Responder) applyTo(ctx context.Context, is *issuer, h crypto.Hash, t *table, ch ca.SerialStatus) {
	k, ok := keyOf(ch.Serial)
	if !ok {
		return
	}
	if ch.Status != ca.Revoked && (!slices.Contains(r.cfg.Presign, h) || !ch.NotAfter.After(r.cfg.Now())) {
		return
	}
	signed, err := is.responder.Sign(ctx, []ca.OCSPSingle{{Hash: h, Serial: ch.Serial, Status: ch.CertStatus}}, nil, r.cfg.Validity)
	if err != nil {
		// Never keep serving the old status: fall back to live answers.
		t.remove(k)
		if ctx.Err() == nil {
			r.cfg.Log.Error("ocsp: re-signing after a change", "issuer", is.name, "serial", ca.FormatSerial(ch.Serial), "err", err)
		}
		return
	}
	r.metrics.presigned.Inc()
	t.put(k, signed)
	if r.cfg.Shared != nil && slices.Contains(r.cfg.Presign, h) {
		r.toShare = append(r.toShare, toShared(is.name, h, ch, signed))
	}
}

// refreshTables builds every pre-signed table once, then rebuilds each
// when half the validity of its responses has passed. Tables of hash
// algorithms that are not pre-signed are emptied then instead, so that
// nothing in them outlives its nextUpdate.
func (r *Responder) refreshTables(ctx context.Context) {
	r.refreshDue(ctx, true)
	close(r.ready)
	t := time.NewTicker(r.cfg.RefreshCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.refreshDue(ctx, false)
		}
	}
}

func (r *Responder) refreshDue(ctx context.Context, all bool) {
	for _, is := range r.issuerList() {
		for _, h := range supportedHashes {
			if ctx.Err() != nil {
				return
			}
			due := r.cfg.Now().After(is.table(h).built.Add(r.cfg.Validity / 2))
			switch {
			case !slices.Contains(r.cfg.Presign, h):
				if due {
					is.tables[h].Store(newTable(r.cfg.Now(), 0))
				}
			case all || due:
				start := time.Now()
				// The first pass uses every worker; later ones one, so
				// that a million re-signatures leave a core to serving.
				workers := 1
				if all {
					workers = r.cfg.PresignWorkers
				}
				n, err := r.rebuild(ctx, is, h, workers)
				if err != nil {
					if ctx.Err() == nil {
						r.cfg.Log.Error("ocsp: pre-signing", "issuer", is.name, "hash", h.String(), "err", err)
					}
					continue
				}
				r.cfg.Log.Info("ocsp: pre-signed responses", "issuer", is.name, "hash", h.String(), "responses", n, "took", time.Since(start).Round(time.Millisecond))
			}
		}
	}
}

// rebuild signs a response for every valid certificate of an issuer into
// a new table and swaps it in. Changes committed while it ran are applied
// to the new table before anyone sees it, under the follow lock, so that
// no revocation is lost in the swap.
func (r *Responder) rebuild(ctx context.Context, is *issuer, h crypto.Hash, workers int) (int, error) {
	from, err := r.e.LastStatusChange(ctx)
	if err != nil {
		return 0, err
	}
	built := r.cfg.Now()
	old, _ := is.table(h).stats()
	nt := newTable(built, old)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan []ca.SerialStatus, 4)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		count    int
		countMu  sync.Mutex
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range workers {
		wg.Go(func() {
			for batch := range work {
				n, err := r.presign(ctx, is, h, batch, nt)
				if err != nil {
					fail(err)
					continue
				}
				countMu.Lock()
				count += n
				countMu.Unlock()
			}
		})
	}
	batch := make([]ca.SerialStatus, 0, presignBatch)
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		select {
		case work <- batch:
			batch = make([]ca.SerialStatus, 0, presignBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	walkErr := r.e.WalkStatuses(ctx, is.name, func(st ca.SerialStatus) error {
		if batch = append(batch, st); len(batch) == presignBatch {
			return send()
		}
		return nil
	})
	if walkErr == nil {
		walkErr = send()
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	if walkErr != nil {
		return 0, walkErr
	}
	r.follow.Lock()
	defer r.follow.Unlock()
	if err := r.applyChanges(ctx, &from, &rebuildTarget{is: is, hash: h, t: nt}); err != nil {
		return 0, errors.Join(errors.New("catching up with changes made while pre-signing"), err)
	}
	is.tables[h].Store(nt)
	return count, nil
}
