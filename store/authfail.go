package store

import (
	"context"
	"time"
)

// AuthFailureStore counts login attempts (EST HTTP Basic) in token
// buckets that every instance sharing the store draws from, so that N
// instances behind a load balancer allow about the attempts one would, not
// N times as many. A bucket holds up to burst tokens, one comes back every
// `every`; an attempt takes one before the password is checked, and a
// correct password returns it, so only failures count.
type AuthFailureStore interface {
	// TakeAuthToken takes a token from key's bucket at now (a new bucket
	// starts full) and returns the tokens left and true; with less than
	// one token in the bucket it takes nothing and returns false.
	TakeAuthToken(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (float64, bool, error)
	// ReturnAuthToken gives a token back to key's bucket, never above
	// burst; nothing happens for a key without a bucket.
	ReturnAuthToken(ctx context.Context, key string, burst int, now time.Time) error
	// PruneAuthFailures forgets buckets last drawn from before t.
	PruneAuthFailures(ctx context.Context, before time.Time) (int64, error)
}
