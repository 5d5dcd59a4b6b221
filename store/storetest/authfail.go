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

func addFailure(t *testing.T, s store.AuthFailureStore, key string, now time.Time) float64 {
	t.Helper()
	left, err := s.AddAuthFailure(ctx(t), key, 3, time.Minute, now)
	if err != nil {
		t.Fatalf("AddAuthFailure(%s): %v", key, err)
	}
	return left
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func testAuthFailureBucket(t *testing.T, s store.AuthFailureStore) {
	steps := []struct {
		name string
		at   time.Duration
		want float64
	}{
		{"a new bucket starts full", 0, 2},
		{"second failure", 0, 1},
		{"third failure empties it", 0, 0},
		{"never below zero", 0, 0},
		{"half a token back after 30s, then taken", 30 * time.Second, 0},
		{"a minute and a half later", 2 * time.Minute, 0.5},
		{"never above the burst", time.Hour, 2},
		{"a clock running behind changes nothing but the take", time.Hour - time.Minute, 1},
	}
	for _, st := range steps {
		if got := addFailure(t, s, "u:alice", base.Add(st.at)); !near(got, st.want) {
			t.Fatalf("%s: %v tokens left, want %v", st.name, got, st.want)
		}
	}
	if got := addFailure(t, s, "a:192.0.2.1", base); !near(got, 2) {
		t.Errorf("another key: %v tokens left, want 2", got)
	}
}

func testAuthFailureShared(t *testing.T, a, b store.AuthFailureStore) {
	var wg sync.WaitGroup
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			if _, err := s.AddAuthFailure(ctx(t), "u:bob", 10, time.Hour, base); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Six failures at two instances drew from one bucket of ten.
	if got, err := b.AddAuthFailure(ctx(t), "u:bob", 10, time.Hour, base); err != nil || !near(got, 3) {
		t.Fatalf("after 7 failures in all: %v tokens left, %v; want 3", got, err)
	}
}

func testAuthFailurePrune(t *testing.T, s store.AuthFailureStore) {
	addFailure(t, s, "old", base)
	addFailure(t, s, "new", base.Add(time.Hour))
	if n, err := s.PruneAuthFailures(ctx(t), base.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("PruneAuthFailures = %d, %v; want 1", n, err)
	}
	if got := addFailure(t, s, "old", base.Add(time.Hour)); !near(got, 2) {
		t.Errorf("a pruned bucket starts full again: %v tokens left", got)
	}
	if got := addFailure(t, s, "new", base.Add(time.Hour)); !near(got, 1) {
		t.Errorf("a kept bucket: %v tokens left, want 1", got)
	}
}
