package store

import (
	"context"
	"time"
)

// AuthFailureStore counts failed logins (EST HTTP Basic) in token buckets
// that every instance sharing the store draws from, so that N instances
// behind a load balancer allow about the attempts one would, not N times
// as many. A bucket holds up to burst tokens, one comes back every
// `every`, and each failure takes one.
type AuthFailureStore interface {
	// AddAuthFailure takes a token from key's bucket at now (a new bucket
	// starts full) and returns the tokens left, never below zero.
	AddAuthFailure(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (float64, error)
	// PruneAuthFailures forgets buckets last drawn from before t.
	PruneAuthFailures(ctx context.Context, before time.Time) (int64, error)
}
