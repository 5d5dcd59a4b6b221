package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/storetest"
)

// Group commit under real concurrency: outcomes and invariants only, never
// timings.

func TestManyConcurrentInserts(t *testing.T) {
	s := openAt(t, tempDB(t))
	const workers, each = 64, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := insertOp(s, storetest.Serial(w*each+i), "services")(); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	certs, err := s.Certificates(t.Context(), store.CertFilter{})
	if err != nil || len(certs) != workers*each {
		t.Fatalf("Certificates: %d, %v; want %d", len(certs), err, workers*each)
	}
	verify(t, s, workers*each)
	commits := s.commits.Load()
	t.Logf("%d inserts in %d transactions", workers*each, commits)
	if commits >= workers*each {
		t.Errorf("%d inserts took %d transactions: no batching", workers*each, commits)
	}
}

// TestConcurrentDuplicates: 64 writers, every fifth insert on one of 40
// shared serials; each serial is stored once, by the insert that succeeded.
func TestConcurrentDuplicates(t *testing.T) {
	s := openAt(t, tempDB(t))
	const workers, each, shared = 64, 50, 40
	var (
		mu   sync.Mutex
		wins = map[string][]string{} // serial -> issuers whose insert succeeded
		ok   int64
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			issuer := fmt.Sprint("w", w)
			for i := range each {
				serial := storetest.Serial(1000 + w*each + i)
				if i%5 == 0 {
					serial = storetest.Serial((w + i) % shared)
				}
				err := insertOp(s, serial, issuer)()
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Errorf("insert %s: %v", serial, err)
				}
				mu.Lock()
				if err == nil {
					wins[serial] = append(wins[serial], issuer)
					ok++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(wins) != workers*each*4/5+shared {
		t.Errorf("%d distinct serials stored, want %d", len(wins), workers*each*4/5+shared)
	}
	for serial, issuers := range wins {
		if len(issuers) != 1 {
			t.Errorf("serial %s: %d inserts succeeded (%v)", serial, len(issuers), issuers)
			continue
		}
		if c, err := s.Certificate(t.Context(), serial); err != nil || c.Issuer != issuers[0] {
			t.Errorf("serial %s: stored issuer %q, %v; the successful insert was %s", serial, c.Issuer, err, issuers[0])
		}
	}
	verify(t, s, ok)
}

// TestCloseInFlight closes the store under 32 busy writers: every call
// returns, with success or ErrClosed, and exactly the successes are stored.
func TestCloseInFlight(t *testing.T) {
	path := tempDB(t)
	s := openAt(t, path)
	const workers = 32
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done []string
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				serial := storetest.Serial(w*100000 + i)
				err := insertOp(s, serial, "services")()
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("insert %s: %v, want success or ErrClosed", serial, err)
					}
					return
				}
				mu.Lock()
				done = append(done, serial)
				mu.Unlock()
			}
		})
	}
	waitFor(t, "some commits", func() bool { return s.commits.Load() >= 5 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = openAt(t, path)
	certs, err := s.Certificates(t.Context(), store.CertFilter{})
	if err != nil || len(certs) != len(done) {
		t.Fatalf("Certificates: %d, %v; want the %d acknowledged", len(certs), err, len(done))
	}
	for _, serial := range done {
		if _, err := s.Certificate(t.Context(), serial); err != nil {
			t.Errorf("acknowledged insert %s: %v", serial, err)
		}
	}
	verify(t, s, int64(len(done)))
}

func committers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "groupcommit.(*Queue[...]).run")
}

func TestCloseStopsCommitter(t *testing.T) {
	before := committers()
	s, err := Open(t.Context(), tempDB(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(t.Context(), ok); err != nil {
		t.Fatal(err)
	}
	if n := committers(); n != before+1 {
		t.Errorf("%d committer goroutines with one store open, want %d", n, before+1)
	}
	s.Close()
	s.Close() // harmless
	waitFor(t, "the committer to exit", func() bool { return committers() == before })
}

// TestTwoStores: two *Store on one file, as two processes would have,
// batching side by side; the IMMEDIATE transactions keep the chain whole.
func TestTwoStores(t *testing.T) {
	path := tempDB(t)
	stores := []*Store{openAt(t, path), openAt(t, path)}
	const workers, each = 16, 25
	var wg sync.WaitGroup
	for k, s := range stores {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					serial := storetest.Serial((k*workers+w)*each + i)
					if err := insertOp(s, serial, fmt.Sprint("store", k))(); err != nil {
						t.Errorf("store %d: insert %s: %v", k, serial, err)
					}
					if i%5 == 0 {
						if err := s.AppendAudit(context.Background(), ok); err != nil {
							t.Errorf("store %d: AppendAudit: %v", k, err)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	const inserts = 2 * workers * each
	for _, s := range stores {
		certs, err := s.Certificates(t.Context(), store.CertFilter{})
		if err != nil || len(certs) != inserts {
			t.Fatalf("Certificates: %d, %v; want %d", len(certs), err, inserts)
		}
		verify(t, s, inserts+inserts/5)
	}
}
