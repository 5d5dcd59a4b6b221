package est

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
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

// failureLimiter is a token bucket per key, kept in least-recently-used
// order: when the table is full, the bucket untouched the longest goes
// (a full bucket carries nothing; an emptied one is dropped only after
// maxKeys newer keys, so a flood of addresses cannot reset a lockout that
// is still being tried).
type failureLimiter struct {
	burst   float64
	every   time.Duration
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     *list.List               // front: most recently used

	shared SharedFailures // nil: failures are counted here only
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

func newFailureLimiter(burst int, every time.Duration, maxKeys int, now func() time.Time) *failureLimiter {
	return &failureLimiter{burst: float64(burst), every: every, maxKeys: max(1, maxKeys), now: now,
		buckets: map[string]*list.Element{}, lru: list.New()}
}

// refill brings b up to date; the caller holds mu.
func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
}

// get returns key's bucket, made full if it is new, and marks it used;
// the caller holds mu.
func (l *failureLimiter) get(key string, now time.Time) *bucket {
	if e, ok := l.buckets[key]; ok {
		l.lru.MoveToFront(e)
		b := e.Value.(*bucket)
		l.refill(b, now)
		return b
	}
	for len(l.buckets) >= l.maxKeys {
		oldest := l.lru.Back()
		l.lru.Remove(oldest)
		delete(l.buckets, oldest.Value.(*bucket).key)
	}
	b := &bucket{key: key, tokens: l.burst, at: now}
	l.buckets[key] = l.lru.PushFront(b)
	return b
}

// take takes a token from key and returns 0, or, with none left, takes
// nothing and returns how long key must wait for one.
func (l *failureLimiter) take(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, l.now())
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.every))
}

// refund gives back a token taken for an attempt that did not fail. A
// bucket full again is forgotten: it holds nothing a new one would not.
func (l *failureLimiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.buckets[key]
	if !ok {
		return
	}
	b := e.Value.(*bucket)
	l.refill(b, l.now())
	b.tokens = min(l.burst, b.tokens+1)
	if b.tokens >= l.burst {
		l.lru.Remove(e)
		delete(l.buckets, key)
	}
}

// lower brings key's local bucket down to tokens, when the shared bucket
// holds fewer.
func (l *failureLimiter) lower(key string, tokens float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.get(key, l.now()); tokens < b.tokens {
		b.tokens = max(0, tokens)
	}
}
