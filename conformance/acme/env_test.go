package acme_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/conformance/harness"
)

// env is the one in-process ACME server of this test package
// (acmetest.Env), which lego (library), certbot and pebble's comparison
// drive, with the fake DNS (challtestsrv) its validator asks. Tests that
// bind the validation ports run one at a time (no t.Parallel).
type env struct {
	*acmetest.Env
	dns *challtestsrv.ChallSrv
}

var testEnv *env

var b64 = acmetest.B64

func TestMain(m *testing.M) {
	e, err := newEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acme test environment:", err)
		os.Exit(1)
	}
	testEnv = e
	code := m.Run()
	e.close()
	os.Exit(code)
}

func newEnv() (*env, error) {
	dns, dnsAddr, err := harness.StartDNS()
	if err != nil {
		return nil, err
	}
	ae, err := acmetest.NewEnv(context.Background(), "../../configs/profiles", dnsAddr)
	if err != nil {
		return nil, err
	}
	return &env{Env: ae, dns: dns}, nil
}

func (e *env) close() {
	e.Close()
	e.dns.Shutdown()
}

// verifyChain checks a PEM chain (leaf first) against the test root for
// the given names.
func (e *env) verifyChain(t *testing.T, chainPEM []byte, names ...string) *x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		t.Fatalf("chain has %d certificates, want leaf and issuer", len(certs))
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	for _, n := range names {
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: e.Roots, Intermediates: inter, DNSName: n}); err != nil {
			t.Fatalf("certificate does not verify for %s: %v", n, err)
		}
	}
	return certs[0]
}

// target is this package's server, for the table of bad requests.
func (e *env) target() acmetest.Target {
	return acmetest.Target{DirURL: e.DirURL, Client: e.Client(), HTTPPort: e.HTTPPort, NewEAB: func(t *testing.T) (string, string) {
		kid, hmac, err := acme.CreateEABKey(t.Context(), e.Store, "", "argus", "operator:test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return kid, hmac
	}}
}
