package acme_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
)

// TestWipeAndReopen (13.12): after Wipe (vccpki seal) the server answers
// every request 503 without a nonce; after Reopen (unseal) it issues
// nonces again and opens a sealed EAB key, i.e. both secrets were read
// back from the store.
func TestWipeAndReopen(t *testing.T) {
	e := testEnv
	srv, err := acme.New(t.Context(), e.Config(), e.Engine, e.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs, err := e.Serve(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	dirURL := hs.URL + "/acme/directory"
	c := acmetest.NewClient(t, dirURL, e.Client())
	kid, hmacKey, err := acme.CreateEABKey(t.Context(), e.Store, "", "argus", "operator:test", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	srv.Wipe()
	for _, tc := range []struct{ name, method, url string }{
		{"13.12 directory while wiped", http.MethodGet, dirURL},
		{"13.12 new-nonce while wiped", http.MethodHead, c.URL("newNonce")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tc.url, nil)
			resp, err := e.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
				resp.Header.Get("Replay-Nonce") != "" || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%d, Retry-After %q, Replay-Nonce %q, %s; want 503 problem with Retry-After and no nonce",
					resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Replay-Nonce"), resp.Header.Get("Content-Type"))
			}
		})
	}

	if err := srv.Reopen(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := c.Register(c.EAB(kid, hmacKey)); r.Status != http.StatusCreated {
		t.Fatalf("account with EAB after Reopen: %d %s %s", r.Status, r.Prob.Type, r.Prob.Detail)
	}
}
