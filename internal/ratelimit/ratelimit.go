// Package ratelimit is an in-process token bucket per key (a client
// address, an account, a user name) with bounded memory: a bucket holds
// up to Burst tokens, one comes back every Every, and each request takes
// one. ACME limits requests with it; EST limits password attempts, giving
// a token back when the password was right.
package ratelimit

import (
	"container/list"
	"sync"
	"time"
)

// Limiter is a set of token buckets, safe for concurrent use.
type Limiter struct {
	burst   float64
	every   time.Duration
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     *list.List               // front: most recently used
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

// New returns a limiter of burst tokens per key, one back every every,
// keeping at most maxKeys buckets. When full, the bucket used least
// recently is forgotten, which gives that key a full bucket again: an
// attacker must spread over maxKeys keys to gain from it (a key that is
// still being tried stays near the front), and memory stays bounded.
func New(burst int, every time.Duration, maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{burst: float64(burst), every: every, maxKeys: max(maxKeys, 1), now: now,
		buckets: map[string]*list.Element{}, lru: list.New()}
}

// Burst and Every are the limiter's settings.
func (l *Limiter) Burst() int           { return int(l.burst) }
func (l *Limiter) Every() time.Duration { return l.every }

// Now is the limiter's clock.
func (l *Limiter) Now() time.Time { return l.now() }

// get returns key's bucket, brought up to date, made full if it is new,
// and marks it used; the caller holds mu.
func (l *Limiter) get(key string, now time.Time) *bucket {
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

func (l *Limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
}

// Take takes a token from key's bucket. If there is none, it takes
// nothing and returns false with the time until one comes back.
func (l *Limiter) Take(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, l.now())
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}

// Peek reports whether key's bucket holds a token, without taking one,
// and if not, the time until one comes back. A key without a bucket has a
// full one; Peek keeps no bucket for it.
func (l *Limiter) Peek(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.buckets[key]
	if !ok {
		return true, 0
	}
	b := e.Value.(*bucket)
	l.refill(b, l.now())
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	return true, 0
}

// Refund gives back a token taken for a request that, after all, does
// not count (a correct password). A bucket full again is forgotten: it
// holds nothing a new one would not.
func (l *Limiter) Refund(key string) {
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

// Lower brings key's bucket down to tokens when it holds more: another
// counter (the instances' shared buckets) knows of requests this one did
// not see.
func (l *Limiter) Lower(key string, tokens float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.get(key, l.now()); tokens < b.tokens {
		b.tokens = max(0, tokens)
	}
}

// Len is the number of buckets kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Has reports whether a bucket for key is kept.
func (l *Limiter) Has(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.buckets[key]
	return ok
}
