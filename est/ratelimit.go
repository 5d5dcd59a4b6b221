package est

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/vcc/vccpki/internal/ratelimit"
)

// Limits bound HTTP Basic attempts, per user name and per client
// address: each attempt that reaches the password hash takes a token
// first (a correct password gives it back), tokens come back one per
// Every up to Burst, and with no token left every attempt, right or
// wrong, is answered 429 with Retry-After until one comes back. A correct
// password therefore does not help an attacker who guesses fast, and the
// slow hash never runs for an attempt the limiter would refuse.
type Limits struct {
	UserBurst int
	UserEvery time.Duration
	AddrBurst int
	AddrEvery time.Duration
	// MaxKeys bounds the memory of the limiter (users plus addresses).
	MaxKeys int
	// Shared, when set, is where the instances sharing a store count
	// failures together (ratelimit_shared.go). Nil: this process counts
	// alone.
	Shared SharedFailures
}

// DefaultLimits: five wrong passwords per user, then one try a minute;
// twenty failures per address, then one every ten seconds.
var DefaultLimits = Limits{UserBurst: 5, UserEvery: time.Minute, AddrBurst: 20, AddrEvery: 10 * time.Second, MaxKeys: 100_000}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	d.Shared = l.Shared
	if l.UserBurst > 0 {
		d.UserBurst = l.UserBurst
	}
	if l.UserEvery > 0 {
		d.UserEvery = l.UserEvery
	}
	if l.AddrBurst > 0 {
		d.AddrBurst = l.AddrBurst
	}
	if l.AddrEvery > 0 {
		d.AddrEvery = l.AddrEvery
	}
	if l.MaxKeys > 0 {
		d.MaxKeys = l.MaxKeys
	}
	return d
}

// maxKeyLen bounds a limiter key: a user name comes from the client and
// may be as long as a request header.
const maxKeyLen = 80

// limitKey is prefix+name, or, for a long name, prefix and a hash of it,
// so that every key has a bounded size in memory and in the store.
func limitKey(prefix, name string) string {
	if len(prefix)+len(name) <= maxKeyLen {
		return prefix + name
	}
	sum := sha256.Sum256([]byte(name))
	return prefix + "sha256:" + hex.EncodeToString(sum[:])
}

// failureLimiter is the password-attempt bucket per key (one
// ratelimit.Limiter: least recently used eviction, so a flood of new keys
// cannot reset a lockout that is still being tried), optionally drawing
// from the buckets the instances share.
type failureLimiter struct {
	*ratelimit.Limiter
	shared SharedFailures // nil: attempts are counted here only
}

func newFailureLimiter(burst int, every time.Duration, maxKeys int, now func() time.Time) *failureLimiter {
	return &failureLimiter{Limiter: ratelimit.New(burst, every, maxKeys, now)}
}

// take takes a token from key and returns 0, or, with none left, takes
// nothing and returns how long key must wait for one.
func (l *failureLimiter) take(key string) time.Duration {
	ok, wait := l.Take(key)
	if ok {
		return 0
	}
	return wait
}

// refund gives back a token taken for an attempt that did not fail.
func (l *failureLimiter) refund(key string) { l.Refund(key) }
