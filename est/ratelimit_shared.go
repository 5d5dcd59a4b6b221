package est

import (
	"context"
	"time"
)

// SharedFailures is the store's attempt buckets (store.AuthFailureStore)
// as the limiter uses them.
type SharedFailures interface {
	TakeAuthToken(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (float64, bool, error)
	ReturnAuthToken(ctx context.Context, key string, burst int, now time.Time) error
}

// With several instances behind a load balancer, an attempt that is about
// to hash a password also takes a token from the key's bucket in the
// store, before hashing, as it does locally; a correct password returns
// it. So a user (or address) limited at other instances is limited here
// too, and no instance hashes for an attempt the shared bucket refuses.
// An attempt that a cached verification answers (see verifiedCache) costs
// no database round trip.

// sharedTimeout bounds a store call of the limiter; when one fails, the
// local limit still holds.
const sharedTimeout = 2 * time.Second

// sharedIn makes l draw from the shared buckets of f, if f is set.
func (l *failureLimiter) sharedIn(f SharedFailures) *failureLimiter {
	l.shared = f
	return l
}

// takeShared takes a token from key's shared bucket and returns 0, or
// how long key must wait for one. The local bucket follows the shared
// one down. A store error lets the attempt through: the local token is
// taken already.
func (l *failureLimiter) takeShared(ctx context.Context, key string) time.Duration {
	if l.shared == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	left, ok, err := l.shared.TakeAuthToken(ctx, key, l.Burst(), l.Every(), l.Now())
	switch {
	case err != nil:
		return 0
	case !ok:
		l.Lower(key, 0)
		return l.Every()
	}
	l.Lower(key, left)
	return 0
}

// refundShared gives a shared token back.
func (l *failureLimiter) refundShared(key string) {
	if l.shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	_ = l.shared.ReturnAuthToken(ctx, key, l.Burst(), l.Now()) // at worst one attempt fewer until a refill
}
