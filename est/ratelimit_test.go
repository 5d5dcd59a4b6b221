package est

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestFailureLimiter(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newFailureLimiter(3, time.Minute, 4, clock.now)
	for i := range 3 {
		if w := l.take("k"); w != 0 {
			t.Fatalf("attempt %d: wait %v; want 0", i, w)
		}
	}
	if w := l.take("k"); w != time.Minute {
		t.Errorf("after the burst: wait %v; want 1m", w)
	}
	if w := l.take("other"); w != 0 {
		t.Errorf("another key waits %v", w)
	}
	l.refund("other")
	clock.advance(30 * time.Second)
	if w := l.take("k"); w != 30*time.Second {
		t.Errorf("half a period later: wait %v; want 30s", w)
	}
	clock.advance(30 * time.Second)
	if w := l.take("k"); w != 0 {
		t.Errorf("a period later: wait %v; want 0", w)
	}
	// A refund gives the token back: a correct password costs nothing.
	l.refund("k")
	if w := l.take("k"); w != 0 {
		t.Errorf("after a refund: wait %v; want 0", w)
	}
}

// TestFailureLimiterBounds is issue 13 item 15: the table holds at most
// maxKeys buckets, keys have a bounded size, and a full table evicts the
// least recently used bucket, so a flood of new keys does not reset the
// lockout of a key that keeps being tried.
func TestFailureLimiterBounds(t *testing.T) {
	t.Run("13.15 a full table evicts the least recently used, not the locked-out key", func(t *testing.T) {
		clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		l := newFailureLimiter(2, time.Hour, 4, clock.now)
		l.take("u:victim")
		l.take("u:victim")
		for i := range 100 {
			l.take("a:flood-" + strconv.Itoa(i))
			l.take("u:victim") // the attacker keeps trying the victim
			if n := l.Len(); n > 4 {
				t.Fatalf("%d buckets kept; the bound is 4", n)
			}
		}
		if w := l.take("u:victim"); w <= 0 {
			t.Errorf("the locked-out key was evicted by the flood: wait %v", w)
		}
		if l.Has("a:flood-0") {
			t.Errorf("the least recently used key is still there")
		}
	})
	t.Run("13.15 limiter keys have a bounded size", func(t *testing.T) {
		long := strings.Repeat("x", 1<<20)
		k1, k2 := limitKey("u:", long), limitKey("u:", long+"y")
		if len(k1) > maxKeyLen || len(k2) > maxKeyLen || k1 == k2 {
			t.Errorf("keys of %d and %d bytes (bound %d), equal %v", len(k1), len(k2), maxKeyLen, k1 == k2)
		}
		if got := limitKey("u:", "argus-agent"); got != "u:argus-agent" {
			t.Errorf("a short name is kept as it is: %q", got)
		}
	})
}

// TestRateLimitHTTP: wrong passwords are limited per user and per
// address, with 429 and Retry-After, and while a user is limited even the
// right password is refused.
func TestRateLimitHTTP(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s, err := New(Config{Engine: env.engine, Users: env.store, Now: clock.now,
		Limits: Limits{UserBurst: 2, UserEvery: time.Minute, AddrBurst: 3, AddrEvery: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	csr := b64(newCSR(t, newKey(t), "", "limited.argus.test").Raw)
	send := func(user, password, addr string) (int, http.Header) {
		r := httptest.NewRequest(http.MethodPost, "https://est.test/.well-known/est/argus/simpleenroll", bytes.NewReader(csr))
		r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
		r.RemoteAddr = addr + ":40000"
		r.Header.Set("Content-Type", "application/pkcs10")
		r.SetBasicAuth(user, password)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code, w.Header()
	}
	const a1, a2 = "192.0.2.1", "192.0.2.2"
	steps := []struct {
		name           string
		user, pw, addr string
		status         int
	}{
		{"first failure", "argus-agent", "wrong", a1, 401},
		{"second failure", "argus-agent", "wrong", a1, 401},
		{"user limited, even with the right password", "argus-agent", passwordOf("argus-agent"), a2, 429},
		{"third failure from a1, another user", "nobody", "x", a1, 401},
		{"address limited", "vpb-device", passwordOf("vpb-device"), a1, 429},
		{"a minute later the user may try again", "", "", "", 0},
		{"right password after the wait", "argus-agent", passwordOf("argus-agent"), a2, 200},
	}
	for _, st := range steps {
		if st.status == 0 {
			clock.advance(time.Minute)
			continue
		}
		status, hdr := send(st.user, st.pw, st.addr)
		if status != st.status {
			t.Errorf("%s: status %d; want %d", st.name, status, st.status)
		}
		if status == 429 {
			if ra, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || ra <= 0 || ra > 60 {
				t.Errorf("%s: Retry-After %q; want 1..60 seconds", st.name, hdr.Get("Retry-After"))
			}
		}
	}
}

// TestLimitBeforeHash is issue 13 item 2: the limiter token is taken
// before the password hash runs, so concurrent wrong passwords beyond the
// burst are refused with 429 instead of all being hashed; when every hash
// slot is busy the answer is 503 with Retry-After, and the refused
// attempts cost the client nothing. Nothing is issued.
func TestLimitBeforeHash(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s, err := New(Config{Engine: env.engine, Users: env.store, Now: clock.now,
		Limits: Limits{UserBurst: 3, UserEvery: time.Hour, AddrBurst: 100, AddrEvery: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	csr := b64(newCSR(t, newKey(t), "", "hashed.argus.test").Raw)
	send := func(user, password, addr string) (int, http.Header, string) {
		r := httptest.NewRequest(http.MethodPost, "https://est.test/.well-known/est/argus/simpleenroll", bytes.NewReader(csr))
		r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
		r.RemoteAddr = addr + ":40000"
		r.Header.Set("Content-Type", "application/pkcs10")
		r.SetBasicAuth(user, password)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code, w.Header(), w.Body.String()
	}
	before := certCount(t)
	t.Run("13.2 concurrent wrong passwords beyond the burst are refused before hashing", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[int]int{}
		for range 30 {
			wg.Go(func() {
				status, _, _ := send("mallory", "wrong", "192.0.2.10")
				mu.Lock()
				got[status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if got[401] != 3 || got[429] != 27 {
			t.Errorf("statuses %v; want 3 × 401 (the burst) and 27 × 429", got)
		}
	})
	t.Run("13.2 all hash slots busy gives 503 with Retry-After and costs no token", func(t *testing.T) {
		for range cap(s.auth.hashSlots) {
			s.auth.hashSlots <- struct{}{}
		}
		var wg sync.WaitGroup
		for range 3 { // the whole burst of the user: had they counted, the next try would get 429
			wg.Go(func() {
				status, hdr, body := send("argus-agent", "wrong", "192.0.2.11")
				if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "1" || !strings.Contains(body, "try again in a second") {
					t.Errorf("with every hash slot busy: %d Retry-After %q %q; want 503, 1", status, hdr.Get("Retry-After"), body)
				}
			})
		}
		wg.Wait()
		for range cap(s.auth.hashSlots) {
			<-s.auth.hashSlots
		}
		if status, _, body := send("argus-agent", "wrong", "192.0.2.11"); status != http.StatusUnauthorized {
			t.Errorf("after the slots free up: %d %q; want 401 (the 503s took no token)", status, body)
		}
	})
	if after := certCount(t); after != before {
		t.Errorf("refused logins issued %d certificates", after-before)
	}
	t.Run("13.2 a correct password gives its token back", func(t *testing.T) {
		for i := range 5 { // more than the burst of 3
			if status, _, body := send("argus-agent", passwordOf("argus-agent"), "192.0.2.12"); status != http.StatusOK {
				t.Fatalf("login %d with the right password: %d %q", i, status, body)
			}
		}
	})
	t.Run("13.2 concurrent logins of a verified password are not limited by the burst", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[int]int{}
		for range 12 { // four times the burst, all at once
			wg.Go(func() {
				status, _, _ := send("argus-agent", passwordOf("argus-agent"), "192.0.2.13")
				mu.Lock()
				got[status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if got[200] != 12 {
			t.Errorf("statuses %v; want 12 × 200", got)
		}
	})
	t.Run("13.2 a locked-out user is refused with the right password too", func(t *testing.T) {
		for i := 0; ; i++ {
			status, _, _ := send("argus-agent", "wrong", "192.0.2.14")
			if status == http.StatusTooManyRequests {
				break
			}
			if status != http.StatusUnauthorized || i > 3 {
				t.Fatalf("wrong password %d: %d; want 401 until the burst is spent, then 429", i, status)
			}
		}
		// The verified-password cache must not answer while locked out: a
		// 200 here would tell a right guess from a wrong one.
		if status, _, body := send("argus-agent", passwordOf("argus-agent"), "192.0.2.14"); status != http.StatusTooManyRequests {
			t.Errorf("right password while locked out: %d %q; want 429", status, body)
		}
	})
}
