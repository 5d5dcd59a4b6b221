package acme_test

import (
	"testing"

	"github.com/vcc/vccpki/acme/acmetest"
)

// TestNonceSpentOnce: a nonce is good exactly once (RFC 8555 §6.5), for a
// POST-as-GET and for a request with a payload.
func TestNonceSpentOnce(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil)
	for _, tc := range []struct {
		name    string
		payload any
	}{
		{"POST-as-GET", nil},
		{"payload", map[string]any{"contact": []string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nonce := c.Nonce()
			withNonce := func(h map[string]any) { h["nonce"] = nonce }
			if r := c.PostRaw(c.Kid, c.JWS(c.Key, c.Kid, c.Kid, tc.payload, withNonce), "application/jose+json"); r.Status != 200 {
				t.Fatalf("first use: HTTP %d %s", r.Status, r.Body)
			}
			r := c.PostRaw(c.Kid, c.JWS(c.Key, c.Kid, c.Kid, tc.payload, withNonce), "application/jose+json")
			if r.Prob.Type != "urn:ietf:params:acme:error:badNonce" {
				t.Fatalf("second use: HTTP %d %s, want badNonce", r.Status, r.Body)
			}
		})
	}
}
