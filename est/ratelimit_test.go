package est

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strconv"
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
		if w := l.wait("k"); w != 0 {
			t.Fatalf("after %d failures: wait %v; want 0", i, w)
		}
		l.fail("k")
	}
	if w := l.wait("k"); w != time.Minute {
		t.Errorf("after the burst: wait %v; want 1m", w)
	}
	if w := l.wait("other"); w != 0 {
		t.Errorf("another key waits %v", w)
	}
	clock.advance(30 * time.Second)
	if w := l.wait("k"); w != 30*time.Second {
		t.Errorf("half a period later: wait %v; want 30s", w)
	}
	clock.advance(30 * time.Second)
	if w := l.wait("k"); w != 0 {
		t.Errorf("a period later: wait %v; want 0", w)
	}
	// Memory stays bounded: more keys than maxKeys never pile up.
	for i := range 100 {
		l.fail("flood-" + strconv.Itoa(i))
	}
	if n := len(l.buckets); n > 4 {
		t.Errorf("%d buckets kept; the bound is 4", n)
	}
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
