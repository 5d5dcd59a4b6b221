package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/vcc/vccpki/store"
)

// leaseTTL is how long a lease lasts without renewal: how long background
// work pauses when its instance dies before another takes it over.
const leaseTTL = 30 * time.Second

// holderID names this process as a lease holder: host, pid and a random
// part, so that a restarted process never mistakes an old lease for its own.
var holderID = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
})

// runLeased runs fn while this process holds the named lease, so that work
// shared by every instance on one database runs at one of them. It renews
// every TTL/3; when a renewal fails or is refused it cancels fn's context
// and waits for fn, then competes again. When ctx ends it releases the
// lease. A store without leases runs fn at once: it is not shared.
func runLeased(ctx context.Context, a *app, name string, fn func(context.Context)) {
	l, ok := a.store.(store.Leaser)
	if !ok {
		fn(ctx)
		return
	}
	runLease(ctx, l, name, holderID(), leaseTTL, a.log.Warn, fn)
}

func runLease(ctx context.Context, l store.Leaser, name, holder string, ttl time.Duration,
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
