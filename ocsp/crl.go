package ocsp

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vcc/vccpki/ca"
)

// crlKey names one CRL: an issuer's full CRL (shard 0) or one shard.
type crlKey struct {
	issuer string
	shard  int
}

// crlSlot holds the current CRL of one key and whether it must be rebuilt.
type crlSlot struct {
	key   crlKey
	cur   atomic.Pointer[ca.CRL]
	dirty atomic.Bool
	// needChange is the change feed position a CRL must include to be
	// served here: a stored CRL another instance built from an older
	// position may lack a revocation this instance has seen (crlshared.go).
	needChange atomic.Int64
	// build skips the CRLs other instances stored (crlshared.go) once: a
	// CA revocation is not in the change feed their positions count.
	build atomic.Bool
	ready chan struct{} // closed after the first successful build
	once  sync.Once
}

// crlSet keeps every served CRL built and current: rebuilt after a
// revocation (debounced to one build per tick) and before half of its
// validity has passed.
type crlSet struct {
	e   Engine
	cfg Config
	// mu guards order and slots, which grow when a CA is created.
	mu    sync.RWMutex
	order []*crlSlot
	slots map[crlKey]*crlSlot
	wake  chan struct{}

	builds   atomic.Int64
	shared   atomic.Int64 // CRLs taken from the store instead of built (crlshared.go)
	lastTook atomic.Int64 // nanoseconds
}

// crlTick is how often the set looks for CRLs to rebuild.
const crlTick = time.Second

func newCRLSet(e Engine, cfg Config) *crlSet {
	s := &crlSet{e: e, cfg: cfg, slots: map[crlKey]*crlSlot{}, wake: make(chan struct{}, 1)}
	for _, issuer := range e.CRLIssuers() {
		s.addIssuer(issuer, 0)
	}
	return s
}

// addIssuer serves the CRLs of an issuer, unless they are served already;
// a new one needs every change after need. It reports whether it added.
func (s *crlSet) addIssuer(issuer string, need int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	added := false
	add := func(k crlKey) {
		if s.slots[k] != nil {
			return
		}
		sl := &crlSlot{key: k, ready: make(chan struct{})}
		sl.dirty.Store(true)
		sl.needChange.Store(need)
		s.slots[k] = sl
		s.order = append(s.order, sl)
		added = true
	}
	shards := s.e.CRLShards()
	if issuer == ca.RootCA || shards == 0 || s.cfg.FullCRL {
		add(crlKey{issuer, 0})
	}
	if issuer != ca.RootCA {
		for n := 1; n <= shards; n++ {
			add(crlKey{issuer, n})
		}
	}
	if added {
		s.poke()
	}
	return added
}

func (s *crlSet) slot(k crlKey) *crlSlot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.slots[k]
}

func (s *crlSet) list() []*crlSlot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.order)
}

func (s *crlSet) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// rebuildNow asks for a rebuild of the full CRL of issuer here, not one
// another instance stored: it must list a CA revoked since (cas.go).
func (s *crlSet) rebuildNow(issuer string) {
	if sl := s.slot(crlKey{issuer, 0}); sl != nil {
		sl.build.Store(true)
		sl.dirty.Store(true)
		s.poke()
	}
}

// markDirty asks for a rebuild of one CRL, if it is served, that includes
// the change feed up to seq.
func (s *crlSet) markDirty(issuer string, shard int, seq int64) {
	if sl := s.slot(crlKey{issuer, shard}); sl != nil {
		for {
			old := sl.needChange.Load()
			if seq <= old || sl.needChange.CompareAndSwap(old, seq) {
				break
			}
		}
		sl.dirty.Store(true)
		s.poke()
	}
}

// run builds every CRL, then rebuilds those marked dirty or due, one at
// a time so that two million-entry lists are never built at once.
func (s *crlSet) run(ctx context.Context) {
	t := time.NewTicker(min(crlTick, s.cfg.RefreshCheck))
	defer t.Stop()
	for {
		s.rebuildDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
			// Let a burst of revocations land before building.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (s *crlSet) rebuildDue(ctx context.Context) {
	validity := s.e.CRLValidity()
	for _, sl := range s.list() {
		if ctx.Err() != nil {
			return
		}
		cur := sl.cur.Load()
		due := cur == nil || s.cfg.Now().After(cur.ThisUpdate.Add(validity/2))
		if offline, imported := s.offlineRootCRL(sl.key, cur); offline {
			due = cur == nil || imported // never rebuilt here: only a newer import
		}
		if !sl.dirty.Load() && !due {
			continue
		}
		sl.dirty.Store(false)
		build := sl.build.Swap(false)
		if crl, ok := s.fromStore(ctx, sl, cur, validity); ok && !build {
			sl.cur.Store(crl)
			sl.once.Do(func() { close(sl.ready) })
			continue
		}
		from, ok := s.changePosition(ctx)
		start := time.Now()
		crl, err := s.e.BuildCRL(ctx, sl.key.issuer, sl.key.shard)
		if err != nil {
			sl.dirty.Store(true) // try again next tick
			if build {
				sl.build.Store(true)
			}
			if ctx.Err() == nil {
				s.cfg.Log.Error("crl: building", "issuer", sl.key.issuer, "shard", sl.key.shard, "err", err)
			}
			continue
		}
		took := time.Since(start)
		s.builds.Add(1)
		s.lastTook.Store(int64(took))
		sl.cur.Store(crl)
		sl.once.Do(func() { close(sl.ready) })
		if ok {
			s.toStore(ctx, crl, from)
		}
		s.cfg.Log.Debug("crl: built", "issuer", sl.key.issuer, "shard", sl.key.shard, "number", crl.Number, "entries", crl.Entries, "bytes", crl.Size(), "took", took)
	}
}

// offlineRootCRL: an offline root's CRL is imported, not built
// (ca.Engine.OfflineRootCRLNumber); imported is true when a newer import
// than cur is there to serve.
func (s *crlSet) offlineRootCRL(k crlKey, cur *ca.CRL) (offline, imported bool) {
	o, ok := s.e.(interface{ OfflineRootCRLNumber() (int64, bool) })
	if !ok || k.issuer != ca.RootCA {
		return false, false
	}
	n, offline := o.OfflineRootCRLNumber()
	return offline, offline && cur != nil && n != cur.Number
}

// firstBuildWait bounds how long a request waits for a CRL's first build.
const firstBuildWait = 30 * time.Second

// get returns the current CRL of a key, waiting a while for the first build.
func (s *crlSet) get(ctx context.Context, k crlKey) (*ca.CRL, error) {
	sl := s.slot(k)
	if sl == nil {
		return nil, errNoCRL
	}
	t := time.NewTimer(firstBuildWait)
	defer t.Stop()
	select {
	case <-sl.ready:
		return sl.cur.Load(), nil
	case <-t.C:
		return nil, errCRLNotReady
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var (
	errNoCRL       = errors.New("no such CRL")
	errCRLNotReady = errors.New("the CRL is not built yet")
)

// crlETag identifies one CRL: its scope and number.
func crlETag(c *ca.CRL) string {
	return `"` + c.Issuer + "-" + strconv.Itoa(c.Shard) + "-" + strconv.FormatInt(c.Number, 10) + `"`
}
