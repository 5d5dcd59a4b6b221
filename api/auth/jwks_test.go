package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func testKeySet(p *idp, now func() time.Time) *KeySet {
	return &KeySet{URL: p.srv.URL + "/jwks", HTTPClient: p.srv.Client(), Algorithms: []jose.SignatureAlgorithm{jose.RS256, jose.ES256},
		MaxAge: time.Hour, MinRefresh: time.Millisecond, Now: now}
}

var jwksClaims = map[string]any{"sub": "s"}

// TestKeySetWithdrawnUnderLoad: while requests with a token of the old key
// keep coming, a token of a new key makes the set fetch the rotated JWKS;
// every request that starts after that fetch has answered is refused, on
// its first try.
func TestKeySetWithdrawnUnderLoad(t *testing.T) {
	p := newIDP(t)
	old, next := newSigner(t, "k1", jose.ES256), newSigner(t, "k2", jose.ES256)
	p.publish(old)
	ks := testKeySet(p, time.Now)
	oldTok, nextTok := old.sign(t, "", jwksClaims), next.sign(t, "", jwksClaims)
	ctx := t.Context()
	if _, err := ks.VerifySignature(ctx, oldTok); err != nil {
		t.Fatal(err)
	}
	var rotated atomic.Bool
	var late atomic.Int64 // requests started after the rotation that verified
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := rotated.Load()
				if _, err := ks.VerifySignature(ctx, oldTok); err == nil && after {
					late.Add(1)
				}
			}
		}()
	}
	p.publish(next)
	if _, err := ks.VerifySignature(ctx, nextTok); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	rotated.Store(true)
	if _, err := ks.VerifySignature(ctx, oldTok); err == nil || !strings.Contains(err.Error(), `key "k1" was withdrawn`) {
		t.Errorf("the withdrawn key on the next request: %v", err)
	}
	close(stop)
	wg.Wait()
	if n := late.Load(); n != 0 {
		t.Errorf("%d requests started after the rotation verified with the withdrawn key", n)
	}
}

// TestKeySetSingleFetch: requests that name a new key at the same moment
// share one fetch.
func TestKeySetSingleFetch(t *testing.T) {
	p := newIDP(t)
	old, next := newSigner(t, "k1", jose.ES256), newSigner(t, "k2", jose.ES256)
	p.publish(old)
	ks := testKeySet(p, time.Now)
	if _, err := ks.VerifySignature(t.Context(), old.sign(t, "", jwksClaims)); err != nil {
		t.Fatal(err)
	}
	p.publish(old, next)
	before := p.fetches()
	tok := next.sign(t, "", jwksClaims)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := ks.VerifySignature(t.Context(), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := p.fetches() - before; n != 1 {
		t.Errorf("%d fetches for 20 requests naming one new key, want 1", n)
	}
}

// TestKeySetMinRefresh: tokens naming unknown keys cannot make the set
// fetch more often than MinRefresh: each fetch after the first waits for
// the rest of it.
func TestKeySetMinRefresh(t *testing.T) {
	p := newIDP(t)
	k := newSigner(t, "k1", jose.ES256)
	p.publish(k)
	now := time.Now()
	ks := testKeySet(p, func() time.Time { return now })
	ks.MinRefresh = time.Minute
	var waits []time.Duration
	ks.sleep = func(d time.Duration) { waits = append(waits, d) }
	for i, kid := range []string{"k1", "nope-1", "nope-2"} {
		s := k
		s.kid = kid
		_, err := ks.VerifySignature(t.Context(), s.sign(t, "", jwksClaims))
		if (err == nil) != (i == 0) {
			t.Fatalf("kid %s: %v", kid, err)
		}
	}
	if p.fetches() != 3 || len(waits) != 2 || waits[0] != time.Minute || waits[1] != time.Minute {
		t.Errorf("%d fetches, waits %v; want 3 fetches, the last two each after a minute", p.fetches(), waits)
	}
}

// TestKeySetBounds: a JWKS larger than MaxJWKSBytes, or not a JWKS, is
// refused as a failed fetch; keys of other uses are skipped.
func TestKeySetBounds(t *testing.T) {
	sig := newSigner(t, "k1", jose.ES256)
	cases := []struct {
		name, body, want string
	}{
		{"too large", `{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`, "larger than 262144 bytes"},
		{"not JSON", `<html>`, "is not a JWKS"},
		{"an encryption key only", `{"keys":[{"kty":"EC","use":"enc","kid":"k1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, `no key "k1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(tc.body)) }))
			t.Cleanup(srv.Close)
			ks := &KeySet{URL: srv.URL, HTTPClient: srv.Client(), Algorithms: []jose.SignatureAlgorithm{jose.ES256}, MaxAge: time.Hour, MinRefresh: time.Millisecond, Now: time.Now}
			_, err := ks.VerifySignature(context.Background(), sig.sign(t, "", jwksClaims))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}
