package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// RunLease runs the contract suite of store.Leaser. open must return a new,
// empty store for each call; share must open a second handle on the same
// database, as a second instance would.
func RunLease(t *testing.T, open func(t *testing.T) store.Leaser, share func(t *testing.T, s store.Leaser) store.Leaser) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Leaser)
	}{
		{"OneHolder", testLeaseOneHolder},
		{"ExpiryHandsOver", testLeaseExpiry},
		{"Release", testLeaseRelease},
		{"Race", testLeaseRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := open(t)
			tc.fn(t, a, share(t, a))
		})
	}
}

func acquire(t *testing.T, s store.Leaser, name, holder string, now time.Time, ttl time.Duration) bool {
	t.Helper()
	ok, err := s.AcquireLease(ctx(t), name, holder, now, ttl)
	if err != nil {
		t.Fatalf("AcquireLease(%s, %s): %v", name, holder, err)
	}
	return ok
}

func testLeaseOneHolder(t *testing.T, a, b store.Leaser) {
	ttl := time.Minute
	if !acquire(t, a, "crl", "one", base, ttl) {
		t.Fatal("first acquire of a free lease failed")
	}
	if acquire(t, b, "crl", "two", base.Add(time.Second), ttl) {
		t.Fatal("a second holder got a lease that had not expired")
	}
	if !acquire(t, a, "crl", "one", base.Add(30*time.Second), ttl) {
		t.Fatal("the holder could not renew its lease")
	}
	// The renewal moved the expiry: at base+70s the first term is over,
	// the renewed one is not.
	if acquire(t, b, "crl", "two", base.Add(70*time.Second), ttl) {
		t.Fatal("a second holder got a lease its holder had renewed")
	}
	if !acquire(t, b, "other", "two", base, ttl) {
		t.Fatal("leases of different names are not independent")
	}
}

func testLeaseExpiry(t *testing.T, a, b store.Leaser) {
	ttl := time.Minute
	if !acquire(t, a, "prune", "one", base, ttl) {
		t.Fatal("first acquire failed")
	}
	if !acquire(t, b, "prune", "two", base.Add(ttl+time.Nanosecond), ttl) {
		t.Fatal("an expired lease was not handed to the next instance")
	}
	if acquire(t, a, "prune", "one", base.Add(ttl+2*time.Nanosecond), ttl) {
		t.Fatal("the old holder took the lease back from its new holder")
	}
}

func testLeaseRelease(t *testing.T, a, b store.Leaser) {
	ttl := time.Hour
	if !acquire(t, a, "renew", "one", base, ttl) {
		t.Fatal("first acquire failed")
	}
	if err := b.ReleaseLease(ctx(t), "renew", "two"); err != nil {
		t.Fatal(err)
	}
	if acquire(t, b, "renew", "two", base.Add(time.Second), ttl) {
		t.Fatal("a release by someone not holding the lease freed it")
	}
	if err := a.ReleaseLease(ctx(t), "renew", "one"); err != nil {
		t.Fatal(err)
	}
	if !acquire(t, b, "renew", "two", base.Add(time.Second), ttl) {
		t.Fatal("a released lease was not free")
	}
	if err := a.ReleaseLease(ctx(t), "never-taken", "one"); err != nil {
		t.Errorf("releasing a lease never taken: %v", err)
	}
}

func testLeaseRace(t *testing.T, a, b store.Leaser) {
	const contenders = 8
	errs := make([]error, contenders)
	won := make([]bool, contenders)
	var wg sync.WaitGroup
	for i := range contenders {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			won[i], errs[i] = s.AcquireLease(ctx(t), "race", Serial(i), base, time.Minute)
		})
	}
	wg.Wait()
	n := 0
	for i := range contenders {
		if errs[i] != nil {
			t.Fatalf("contender %d: %v", i, errs[i])
		}
		if won[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of %d contenders hold the lease, want exactly 1", n, contenders)
	}
}
