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
	ctx := context.Background()
	// Three failed attempts at the first instance empty the shared bucket.
	for i := range 3 {
		if w := max(a.take("u:mallory"), a.takeShared(ctx, "u:mallory")); w != 0 {
			t.Fatalf("attempt %d at the first instance: wait %v", i, w)
		}
	}
	// The second instance has a local token, but the shared bucket
	// refuses before any hash would run.
	if w := b.take("u:mallory"); w != 0 {
		t.Fatalf("the second instance refuses locally before any attempt there: wait %v", w)
	}
	if w := b.takeShared(ctx, "u:mallory"); w != time.Minute {
		t.Errorf("the shared bucket after three failures elsewhere: wait %v, want 1m", w)
	}
	// A correct password at the first instance would have returned its
	// token: one refund lets one more attempt through anywhere.
	a.refundShared("u:mallory")
	if w := b.takeShared(ctx, "u:mallory"); w != 0 {
		t.Errorf("after a returned token: wait %v, want 0", w)
	}
	// Time refills the shared bucket as it does the local one.
	clock.advance(2 * time.Minute)
	if w := max(b.take("u:mallory"), b.takeShared(ctx, "u:mallory")); w != 0 {
		t.Errorf("two minutes later: wait %v, want 0", w)
	}
}
