package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
)

// TestRenewOCSPResponders: a responder certificate is replaced once a
// third of its life is left; responses signed before keep the old
// certificate and still verify, new ones carry and verify with the new
// one; a second engine on the same store takes the renewed certificate
// over instead of making another.
func TestRenewOCSPResponders(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	iss, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{"ocsp-renew.argus.test"}}), Requester: operator()})
	if err != nil {
		t.Fatal(err)
	}
	serial := iss.Certificate.SerialNumber
	// verify parses a response to iss and checks its signature with the
	// responder certificate it carries, which must be want.
	verify := func(t *testing.T, r *ca.OCSPResponder, s ca.SignedOCSP, want []byte) {
		t.Helper()
		der := ca.AppendOCSPResponse(nil, s.Signed, s.Certs)
		resp, err := ocsp.ParseResponseForCert(der, iss.Certificate, r.Issuer())
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if resp.Certificate == nil || !bytes.Equal(resp.Certificate.Raw, want) {
			t.Fatal("the response does not carry the expected responder certificate")
		}
		if resp.Status != ocsp.Good {
			t.Errorf("status %d, want good", resp.Status)
		}
	}
	sign := func(t *testing.T, r *ca.OCSPResponder) ca.SignedOCSP {
		t.Helper()
		s, err := r.Sign(ctx, []ca.OCSPSingle{{Hash: crypto.SHA1, Serial: serial, Status: ca.CertStatus{Status: ca.Good}}}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	r, err := f.engine.OCSPResponder(ca.ServicesCA)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Certificate()
	before := sign(t, r)
	if changed, err := f.engine.RenewOCSPResponders(ctx, "test"); err != nil || len(changed) != 0 {
		t.Fatalf("fresh responders: changed %v, err %v", changed, err)
	}

	// 250 of 365 days later (a third is 121.7 days): renewed.
	later := testConfig()
	later.Now = func() time.Time { return time.Now().Add(250 * 24 * time.Hour) }
	e2 := reopen(t, f, later, ca.Options{})
	changed, err := e2.RenewOCSPResponders(ctx, "test")
	if err != nil || !slices.Equal(changed, e2.IssuingCAs()) {
		t.Fatalf("250 days on: changed %v, err %v; want %v", changed, err, e2.IssuingCAs())
	}
	r2, _ := e2.OCSPResponder(ca.ServicesCA)
	second := r2.Certificate()
	if second.Equal(first) || !second.NotAfter.After(first.NotAfter) {
		t.Fatal("the responder certificate was not replaced by a later one")
	}
	if changed, err := e2.RenewOCSPResponders(ctx, "test"); err != nil || len(changed) != 0 {
		t.Fatalf("right after renewal: changed %v, err %v", changed, err)
	}

	// The first engine takes the renewed certificate over; the response
	// it signed before still carries (and verifies with) the old one.
	if changed, err := f.engine.RenewOCSPResponders(ctx, "test"); err != nil || len(changed) != len(ca.IssuingCAs) {
		t.Fatalf("first engine: changed %v, err %v", changed, err)
	}
	if !r.Certificate().Equal(second) {
		t.Fatal("the first engine did not take over the renewed responder certificate")
	}
	verify(t, r, before, first.Raw)
	verify(t, r, sign(t, r), second.Raw)
	verify(t, r2, sign(t, r2), second.Raw)

	// A response signed elsewhere (a shared store) is sent with the
	// certificate that signed it, if this process knows it.
	e3 := reopen(t, f, later, ca.Options{})
	r3, _ := e3.OCSPResponder(ca.ServicesCA)
	for _, tc := range []struct {
		name   string
		r      *ca.OCSPResponder
		signed []byte
		want   []byte // certs; nil: not vouched for
	}{
		{"an earlier certificate of this process", r, before.Signed, before.Certs},
		{"the current certificate", r3, sign(t, r2).Signed, r3.Certs()},
		{"a certificate from before this process started", r3, before.Signed, nil},
		{"not a response", r, []byte{0x30, 0x03, 0x02, 0x01, 0x00}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs, ok := tc.r.CertsFor(tc.signed)
			if ok != (tc.want != nil) || !bytes.Equal(certs, tc.want) {
				t.Errorf("CertsFor = %d bytes, %v", len(certs), ok)
			}
		})
	}
}
