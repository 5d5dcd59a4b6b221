package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := New(3, time.Minute, 4, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Take("a"); !ok {
			t.Fatalf("take %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := l.Take("a")
	if ok || wait != time.Minute {
		t.Fatalf("fourth take = %v, %v; want refused, 1m", ok, wait)
	}
	if ok, _ := l.Take("b"); !ok {
		t.Fatal("another key is limited by a's bucket")
	}
	now = now.Add(30 * time.Second)
	if ok, wait := l.Take("a"); ok || wait != 30*time.Second {
		t.Fatalf("after 30s = %v, %v; want refused, 30s", ok, wait)
	}
	now = now.Add(30 * time.Second)
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("a token came back after a minute but was refused")
	}
	// Memory stays bounded: many keys keep at most maxKeys buckets, and
	// the one used most recently survives.
	for i := range 100 {
		l.Take(fmt.Sprint("k", i))
		l.Take("a")
	}
	if n := l.Len(); n != 4 {
		t.Fatalf("%d buckets kept, want 4", n)
	}
	if ok, _ := l.Take("a"); ok {
		t.Fatal("the busiest key was evicted and got a full bucket back")
	}
}
