// Package lease runs background work shared by every vccpki instance on
// one database at one instance at a time, under a named store lease.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vcc/vccpki/store"
)

// TTL is how long a lease lasts without renewal: how long background work
// pauses when its instance dies before another takes it over.
const TTL = 30 * time.Second

// holderID names this process as a lease holder: host, pid and a random
// part, so that a restarted process never mistakes an old lease for its own.
var holderID = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
})

// Runner runs work under leases of one store.
type Runner struct {
	Store store.Leaser
	Log   *slog.Logger
}

// Run runs fn while this process holds the named lease, until ctx ends.
func (r Runner) Run(ctx context.Context, name string, fn func(context.Context)) {
	Run(ctx, r.Store, name, holderID(), TTL, r.Log.Warn, fn)
}

// Run runs fn while holder holds the named lease. It renews every TTL/3;
// when a renewal fails or is refused it cancels fn's context and waits for
// fn, then competes again. When ctx ends it waits for fn and releases the
// lease.
func Run(ctx context.Context, l store.Leaser, name, holder string, ttl time.Duration,
	warn func(msg string, args ...any), fn func(context.Context)) {
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel, done = nil, nil
		}
	}
	defer func() {
		stop()
		_ = l.ReleaseLease(context.WithoutCancel(ctx), name, holder)
	}()
	for {
		held, err := l.AcquireLease(ctx, name, holder, time.Now(), ttl)
		if err != nil && ctx.Err() == nil {
			warn("lease", "name", name, "err", err)
		}
		switch {
		case held && cancel == nil:
			fctx, c := context.WithCancel(ctx)
			cancel, done = c, make(chan struct{})
			go func() {
				defer close(done)
				fn(fctx)
			}()
		case !held:
			// Lost it (or could not tell): another instance may hold it
			// by now, so stop at once rather than run twice.
			stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
