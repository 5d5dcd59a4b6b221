package ca_test

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
)

func TestCertificateLookup(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := t.Context()
	issued, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{"lookup.argus.test"}}), Requester: operator()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.engine.Certificate(ctx, issued.Certificate.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.Certificate.Raw, issued.Certificate.Raw) || info.Profile != "argus" || info.Issuer != ca.ServicesCA ||
		info.Serial != issued.Serial || len(info.Chain) != len(issued.Chain) || !info.RevokedAt.IsZero() || info.Requester != "operator:test" {
		t.Fatalf("lookup: %+v", info)
	}
	if err := f.engine.Revoke(ctx, issued.Certificate.SerialNumber, ca.KeyCompromise, operator()); err != nil {
		t.Fatal(err)
	}
	if info, err = f.engine.Certificate(ctx, issued.Certificate.SerialNumber); err != nil || info.RevokedAt.IsZero() {
		t.Fatalf("after revocation: %+v %v", info, err)
	}
	if _, err := f.engine.Certificate(ctx, big.NewInt(0x1234)); caerr.KindOf(err) != caerr.NotFound {
		t.Fatalf("unknown serial: %v", err)
	}
}
