package storetest

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// RunAuthFailures runs the contract suite of store.AuthFailureStore. open
// must return a new, empty store for each call; share must open a second
// handle on the same database, as a second instance would.
func RunAuthFailures(t *testing.T, open func(t *testing.T) store.AuthFailureStore, share func(t *testing.T, s store.AuthFailureStore) store.AuthFailureStore) {
	t.Run("Bucket", func(t *testing.T) { testAuthFailureBucket(t, open(t)) })
	t.Run("SharedAndConcurrent", func(t *testing.T) {
		a := open(t)
		testAuthFailureShared(t, a, share(t, a))
	})
	t.Run("Prune", func(t *testing.T) { testAuthFailurePrune(t, open(t)) })
}

// take takes a token of a bucket of three, one back a minute.
func take(t *testing.T, s store.AuthFailureStore, key string, now time.Time) (float64, bool) {
	t.Helper()
	left, ok, err := s.TakeAuthToken(ctx(t), key, 3, time.Minute, now)
	if err != nil {
		t.Fatalf("TakeAuthToken(%s): %v", key, err)
	}
	return left, ok
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func testAuthFailureBucket(t *testing.T, s store.AuthFailureStore) {
	steps := []struct {
		name   string
		at     time.Duration
		refund bool
		want   float64
		taken  bool
	}{
		{"a new bucket starts full", 0, false, 2, true},
		{"second attempt", 0, false, 1, true},
		{"third attempt empties it", 0, false, 0, true},
		{"an empty bucket refuses and takes nothing", 0, false, 0, false},
		{"half a token after 30s is not enough", 30 * time.Second, false, 0, false},
		{"a token after a minute", time.Minute, false, 0, true},
		{"a returned token can be taken again", time.Minute, true, 0, true},
		{"never above the burst", time.Hour, false, 2, true},
		{"a clock running behind changes nothing but the take", time.Hour - time.Minute, false, 1, true},
	}
	for _, st := range steps {
		if st.refund {
			if err := s.ReturnAuthToken(ctx(t), "u:alice", 3, base.Add(st.at)); err != nil {
				t.Fatal(err)
			}
		}
		got, ok := take(t, s, "u:alice", base.Add(st.at))
		if ok != st.taken || (ok && !near(got, st.want)) {
			t.Fatalf("%s: taken %v, %v tokens left; want %v, %v", st.name, ok, got, st.taken, st.want)
		}
	}
	if got, ok := take(t, s, "a:192.0.2.1", base); !ok || !near(got, 2) {
		t.Errorf("another key: taken %v, %v tokens left; want 2", ok, got)
	}
	// Returning never fills a bucket above its burst, nor makes one.
	for range 5 {
		if err := s.ReturnAuthToken(ctx(t), "a:192.0.2.1", 3, base); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ReturnAuthToken(ctx(t), "u:nobody", 3, base); err != nil {
		t.Fatal(err)
	}
	if got, ok := take(t, s, "a:192.0.2.1", base); !ok || !near(got, 2) {
		t.Errorf("after returns: %v tokens left; want 2 (capped at the burst)", got)
	}
}

func testAuthFailureShared(t *testing.T, a, b store.AuthFailureStore) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, ok, err := s.TakeAuthToken(ctx(t), "u:bob", 10, time.Hour, base)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Sixteen attempts at two instances drew from one bucket of ten.
	if taken != 10 {
		t.Fatalf("%d of 16 concurrent attempts got a token from a bucket of 10", taken)
	}
	if _, ok, err := b.TakeAuthToken(ctx(t), "u:bob", 10, time.Hour, base); err != nil || ok {
		t.Fatalf("after the burst: taken %v, %v; want refused", ok, err)
	}
}

func testAuthFailurePrune(t *testing.T, s store.AuthFailureStore) {
	take(t, s, "old", base)
	take(t, s, "new", base.Add(time.Hour))
	if n, err := s.PruneAuthFailures(ctx(t), base.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("PruneAuthFailures = %d, %v; want 1", n, err)
	}
	if got, _ := take(t, s, "old", base.Add(time.Hour)); !near(got, 2) {
		t.Errorf("a pruned bucket starts full again: %v tokens left", got)
	}
	if got, _ := take(t, s, "new", base.Add(time.Hour)); !near(got, 1) {
		t.Errorf("a kept bucket: %v tokens left, want 1", got)
	}
}
