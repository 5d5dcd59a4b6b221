package acme_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
)

// BenchmarkAuthenticatedRequest measures one POST-as-GET of an account
// through the whole request path: TLS, JWS parsing and verification, the
// account lookup and the nonce spent in the store. The client's signing
// and nonce fetch are outside the timer.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	e := testEnv
	t := &testing.T{}
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil)
	bodies := make([][]byte, 0, 64)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if len(bodies) == 0 {
			for range 64 {
				bodies = append(bodies, c.JWS(c.Key, c.Kid, c.Kid, nil, nil))
			}
		}
		body := bodies[len(bodies)-1]
		bodies = bodies[:len(bodies)-1]
		b.StartTimer()
		if r := c.PostRaw(c.Kid, body, "application/jose+json"); r.Status != 200 {
			b.Fatalf("HTTP %d %s", r.Status, r.Body)
		}
	}
}

// BenchmarkNewOrder measures newOrder for one DNS name: profile
// selection, rate-limit counts and the order with its authorization
// written in one transaction.
func BenchmarkNewOrder(b *testing.B) {
	e := testEnv
	cfg := e.Config()
	cfg.OrdersPerHour, cfg.MaxPendingAuthzs = 1<<30, 1<<30 // the benchmark, not the limits
	cfg.OrdersPerAddress = acme.Limit{Burst: 1 << 30, Every: time.Nanosecond}
	srv, err := acme.New(b.Context(), cfg, e.Engine, e.Store)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hs, err := e.Serve(srv)
	if err != nil {
		b.Fatal(err)
	}
	defer hs.Close()
	t := &testing.T{}
	c := acmetest.NewClient(t, hs.URL+"/acme/directory", e.Client())
	c.Register(nil)
	var n atomic.Int64
	for b.Loop() {
		b.StopTimer()
		url := c.URL("newOrder")
		body := c.JWS(c.Key, c.Kid, url, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": fmt.Sprintf("bench-%d.test", n.Add(1))}}}, nil)
		b.StartTimer()
		if r := c.PostRaw(url, body, "application/jose+json"); r.Status != 201 {
			b.Fatalf("HTTP %d %s", r.Status, r.Body)
		}
	}
}
