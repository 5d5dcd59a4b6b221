package lease

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/store/sqlite"
)

// TestRunLeaseOneAtATime runs three contenders for one lease on one store
// file: the work runs at one of them at a time, and when its holder stops
// (as a killed instance stops renewing), another takes over.
func TestRunLeaseOneAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lease.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var running, maxRunning, holder atomic.Int32
	work := func(i int32) func(context.Context) {
		return func(ctx context.Context) {
			holder.Store(i)
			n := running.Add(1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			<-ctx.Done()
			running.Add(-1)
		}
	}
	const ttl = 300 * time.Millisecond
	warn := func(string, ...any) {}
	cancels := make([]context.CancelFunc, 3)
	dones := make([]chan struct{}, 3)
	holder.Store(-1)
	for i := range dones {
		ctx, cancel := context.WithCancel(t.Context())
		cancels[i], dones[i] = cancel, make(chan struct{})
		go func() {
			defer close(dones[i])
			Run(ctx, st, "work", string(rune('a'+i)), ttl, warn, work(int32(i)))
		}()
	}
	waitFor(t, func() bool { return running.Load() == 1 })
	// Stop the holder, as a killed instance stops renewing: another
	// contender takes the work over.
	first := holder.Load()
	cancels[first]()
	<-dones[first]
	waitFor(t, func() bool { h := holder.Load(); return h != first && running.Load() == 1 })
	for _, cancel := range cancels {
		cancel()
	}
	for _, d := range dones {
		<-d
	}
	if m := maxRunning.Load(); m != 1 {
		t.Errorf("the work ran at %d contenders at once, want 1", m)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
