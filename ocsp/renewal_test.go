package ocsp_test

import (
	"context"
	"crypto"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
)

// TestResponderRenewal: when the engine renews the responder certificate,
// responses already pre-signed keep the certificate that signed them (and
// verify with it), while responses signed afterwards carry the new one.
func TestResponderRenewal(t *testing.T) {
	clk := &clock{}
	s := newStack(t, stackOptions{clock: clk, hierarchy: func(h *ca.HierarchyConfig) { h.OCSP.Validity = 3 * time.Hour }})
	ctx := context.Background()
	resp, err := s.engine.OCSPResponder(ca.ServicesCA)
	if err != nil {
		t.Fatal(err)
	}
	old := resp.Certificate()
	before := s.issue(t, "argus", "before-renewal.argus.test")
	// signer returns the responder certificate a response carries, after
	// checking that it verifies the response.
	signer := func(t *testing.T, iss *ca.Issued) []byte {
		t.Helper()
		_, body := s.post(t, ocspRequest(t, iss.Certificate, s.services, crypto.SHA1), "application/ocsp-request")
		r, err := parseResponse(t, body, iss.Certificate, s.services)
		if err != nil || r.Status != xocsp.Good || r.Certificate == nil {
			t.Fatalf("response %+v, %v", r, err)
		}
		return r.Certificate.Raw
	}
	waitFor(t, func() bool { return string(signer(t, before)) == string(old.Raw) })

	// Two hours on, less than a third of the three hours is left.
	clk.advance(2*time.Hour + 5*time.Minute)
	changed, err := s.engine.RenewOCSPResponders(ctx, "test")
	if err != nil || len(changed) != len(ca.IssuingCAs) {
		t.Fatalf("renewal: changed %v, err %v", changed, err)
	}
	renewed := resp.Certificate()
	if renewed.Equal(old) {
		t.Fatal("the responder certificate was not renewed")
	}
	if got := signer(t, before); string(got) != string(old.Raw) {
		t.Error("a pre-signed response lost the certificate that signed it")
	}
	after := s.issue(t, "argus", "after-renewal.argus.test")
	if got := signer(t, after); string(got) != string(renewed.Raw) {
		t.Error("a response signed after the renewal does not carry the new certificate")
	}
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}
