package est

import (
	"context"
	"time"
)

// SharedFailures is the store's failure buckets (store.AuthFailureStore)
// as the limiter uses them.
type SharedFailures interface {
	AddAuthFailure(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (float64, error)
}

// With several instances behind a load balancer, each failure is also
// drawn from the key's bucket in the store, and the local bucket drops to
// what is left there. So a user (or address) that failed at other
// instances is limited here from its first failure here on: N instances
// allow at most N-1 attempts more per refill period than one does,
// instead of N times as many. Checking (wait) stays local, so a
// successful login costs no database round trip.

// sharedFailureTimeout bounds the store write of a failure; when it
// fails, the local limit still holds.
const sharedFailureTimeout = 2 * time.Second

// sharedIn makes l draw from the shared buckets of f, if f is set.
func (l *failureLimiter) sharedIn(f SharedFailures) *failureLimiter {
	l.shared = f
	return l
}

func (l *failureLimiter) failShared(key string) {
	if l.shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedFailureTimeout)
	defer cancel()
	now := l.now()
	left, err := l.shared.AddAuthFailure(ctx, key, int(l.burst), l.every, now)
	if err != nil {
		return // the local bucket has counted it
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok && left < b.tokens {
		b.tokens = left
	}
}
