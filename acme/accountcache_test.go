package acme_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
)

// TestAccountCacheAcrossInstances: accounts are kept in memory
// (accountcache.go). A deactivation is refused at once by the instance that
// made it, and by another instance on the same store once its cached entry
// is older than AccountCacheTTL.
func TestAccountCacheAcrossInstances(t *testing.T) {
	e := testEnv
	var skew atomic.Int64 // instance 2's clock, ahead of the real one
	dir2 := e.Instance(t, func(c *acme.Config) {
		c.AccountCacheTTL = time.Minute
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	one := acmetest.NewClient(t, e.DirURL, e.Client())
	one.Register(nil).Must(t, 201)
	two := acmetest.NewClient(t, dir2, e.Client())
	two.Key = one.Key
	id := one.Kid[strings.LastIndex(one.Kid, "/")+1:]
	two.Kid = strings.TrimSuffix(dir2, "/directory") + "/acct/" + id

	// Instance 2 reads the account and keeps it; instance 1 too.
	if _, r := two.NewOrder("cache-two.test"); r.Status != 201 {
		t.Fatalf("new order at instance 2: %d %s", r.Status, r.Body)
	}
	if _, r := one.NewOrder("cache-one.test"); r.Status != 201 {
		t.Fatalf("new order at instance 1: %d %s", r.Status, r.Body)
	}
	one.Post(one.Kid, map[string]string{"status": "deactivated"}).Must(t, 200)

	steps := []struct {
		name    string
		client  *acmetest.Client
		advance time.Duration
		want    int
	}{
		// Its own change drops the entry: refused at once (RFC 8555 §7.3.6).
		{"instance that deactivated it", one, 0, 403},
		// Within the TTL instance 2 still serves what it read: the bound.
		{"other instance within the TTL", two, 0, 201},
		{"other instance after the TTL", two, 2 * time.Minute, 403},
	}
	for _, s := range steps {
		skew.Add(int64(s.advance))
		_, r := s.client.NewOrder("cache-" + strings.ReplaceAll(s.name, " ", "-") + ".test")
		if r.Status != s.want || (s.want == 403 && r.Prob.Type != "urn:ietf:params:acme:error:unauthorized") {
			t.Errorf("%s: new order answered %d %s, want %d", s.name, r.Status, r.Body, s.want)
		}
	}
}
