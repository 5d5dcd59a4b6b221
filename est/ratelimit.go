package est

import (
	"sync"
	"time"
)

// Limits bound failed HTTP Basic attempts, per user name and per client
// address: each failure takes a token, tokens come back one per Every up
// to Burst, and with no token left every attempt, right or wrong, is
// answered 429 with Retry-After until one comes back. A correct password
// therefore does not help an attacker who guesses fast.
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

// failureLimiter is a token bucket per key that only failures drain.
type failureLimiter struct {
	burst   float64
	every   time.Duration
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket

	shared SharedFailures // nil: failures are counted here only
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newFailureLimiter(burst int, every time.Duration, maxKeys int, now func() time.Time) *failureLimiter {
	return &failureLimiter{burst: float64(burst), every: every, maxKeys: maxKeys, now: now, buckets: map[string]*bucket{}}
}

// refill brings b up to date; the caller holds mu.
func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
}

// wait returns how long key must wait before its next attempt; 0 means
// it may try now.
func (l *failureLimiter) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	l.refill(b, l.now())
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.every))
}

// fail takes a token from key, here and, with a shared store, there.
func (l *failureLimiter) fail(key string) {
	l.failLocal(key)
	l.failShared(key)
}

func (l *failureLimiter) failLocal(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens = max(0, b.tokens-1)
}

// prune drops buckets that are full again, and if that is not enough,
// any half of them: memory stays bounded even when an attacker sends from
// many addresses. The caller holds mu.
func (l *failureLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys/2 {
			break
		}
		delete(l.buckets, k)
	}
}
