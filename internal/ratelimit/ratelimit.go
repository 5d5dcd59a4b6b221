// Package ratelimit is an in-process token bucket per key (a client
// address, an account) with bounded memory: a bucket holds up to Burst
// tokens, one comes back every Every, and each request takes one.
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
// attacker must spread over maxKeys keys to gain from it, and memory
// stays bounded.
func New(burst int, every time.Duration, maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{burst: float64(burst), every: every, maxKeys: max(maxKeys, 1), now: now,
		buckets: map[string]*list.Element{}, lru: list.New()}
}

// Take takes a token from key's bucket. If there is none, it takes
// nothing and returns false with the time until one comes back.
func (l *Limiter) Take(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var b *bucket
	if e, ok := l.buckets[key]; ok {
		l.lru.MoveToFront(e)
		b = e.Value.(*bucket)
		if d := now.Sub(b.at); d > 0 {
			b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
			b.at = now
		}
	} else {
		if len(l.buckets) >= l.maxKeys {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.buckets, old.Value.(*bucket).key)
		}
		b = &bucket{key: key, tokens: l.burst, at: now}
		l.buckets[key] = l.lru.PushFront(b)
	}
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}

// Len is the number of buckets kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
