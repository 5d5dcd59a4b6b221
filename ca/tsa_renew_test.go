package ca_test

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"github.com/vcc/vccpki/ca"
)

// TestRenewTSA: the TSA certificate (five years) is renewed once a third
// of its life is left, and tokens signed afterwards carry and verify with
// the new one; an engine sharing the store takes the renewed certificate
// over instead of making another.
func TestRenewTSA(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	clock := time.Now()
	e1 := timestamping(t, f, func() time.Time { return clock })
	// token returns the TSA certificate in a token from e after checking
	// that the token's signature verifies with it.
	token := func(t *testing.T, e *ca.Engine) []byte {
		t.Helper()
		got, err := e.Timestamp(ctx, ca.TimestampRequest{Hash: crypto.SHA256, Digest: digestOf(crypto.SHA256, "renew"), Policy: testPolicy, CertReq: true})
		if err != nil {
			t.Fatal(err)
		}
		ts, err := timestamp.ParseResponse(got.DER)
		if err != nil {
			t.Fatal(err)
		}
		p7, err := pkcs7.Parse(ts.RawToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := p7.Verify(); err != nil {
			t.Fatalf("the token does not verify: %v", err)
		}
		return p7.GetOnlySigner().Raw
	}
	old := token(t, e1)
	if renewed, err := e1.RenewTSA(ctx, "test"); err != nil || renewed {
		t.Fatalf("fresh TSA certificate: renewed %v, err %v", renewed, err)
	}

	// Three and a half years on, less than a third of five is left.
	later := time.Now().Add(3*365*24*time.Hour + 180*24*time.Hour)
	e2 := timestamping(t, f, func() time.Time { return later })
	if renewed, err := e2.RenewTSA(ctx, "test"); err != nil || !renewed {
		t.Fatalf("3.5 years on: renewed %v, err %v", renewed, err)
	}
	fresh := token(t, e2)
	if string(fresh) == string(old) {
		t.Fatal("tokens after the renewal still carry the old certificate")
	}
	if renewed, err := e2.RenewTSA(ctx, "test"); err != nil || renewed {
		t.Fatalf("right after renewal: renewed %v, err %v", renewed, err)
	}
	clock = later
	if renewed, err := e1.RenewTSA(ctx, "test"); err != nil || !renewed {
		t.Fatalf("the first engine: renewed %v, err %v; want it to take the new certificate over", renewed, err)
	}
	if got := token(t, e1); string(got) != string(fresh) {
		t.Error("the first engine signs with another certificate than the renewed one")
	}
}
