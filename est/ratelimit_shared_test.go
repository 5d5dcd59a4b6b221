package est

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vcc/vccpki/store/sqlite"
)

// TestSharedFailureLimit: two limiters on one store, as two instances:
// failures at the first limit the second from its first failure on.
func TestSharedFailureLimit(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "est.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := newFailureLimiter(3, time.Minute, 100, clock.now).sharedIn(st)
	b := newFailureLimiter(3, time.Minute, 100, clock.now).sharedIn(st)
	alone := newFailureLimiter(3, time.Minute, 100, clock.now)
	for range 3 {
		a.fail("u:mallory")
	}
	if w := a.wait("u:mallory"); w != time.Minute {
		t.Fatalf("after the burst at the first instance: wait %v, want 1m", w)
	}
	if w := b.wait("u:mallory"); w != 0 {
		t.Fatalf("the second instance refuses before any failure there: wait %v", w)
	}
	b.fail("u:mallory")
	if w := b.wait("u:mallory"); w != time.Minute {
		t.Errorf("after one failure at the second instance: wait %v, want 1m (the shared bucket is empty)", w)
	}
	// Without the store, an instance counts alone.
	alone.fail("u:mallory")
	if w := alone.wait("u:mallory"); w != 0 {
		t.Errorf("an unshared limiter after one failure: wait %v, want 0", w)
	}
	// Time refills the shared bucket as it does the local one.
	clock.advance(2 * time.Minute)
	if w := b.wait("u:mallory"); w != 0 {
		t.Errorf("two minutes later: wait %v, want 0", w)
	}
}
