package acme_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"

	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/ca"
)

// pemChain parses a PEM certificate chain.
func pemChain(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestAlternateChain (RFC 8555 §7.4.2): after vccpki ca rollover, the
// certificate URL of a new-generation leaf links rel="alternate" to
// <URL>/1, whose POST-as-GET answers the chain through the link
// certificate (leaf, link certificate signed by the old key, old
// generation); an old-generation leaf has no alternate link and no /1.
// Its own server: the rollover would change the shared one's CA.
func TestAlternateChain(t *testing.T) {
	e, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil).Must(t, 201)
	_, oldOrder, _ := c.Issue(e.HTTPPort, "oldalt.test")
	oldCA, _ := e.Engine.CACert(ca.ServicesCA)
	newCA, err := e.Engine.RolloverCA(t.Context(), ca.RolloverCARequest{Name: ca.ServicesCA}, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, newOrder, _ := c.Issue(e.HTTPPort, "newalt.test")
	link, ok := e.Engine.GenerationLink(ca.GenerationIssuer(ca.ServicesCA, 2))
	if !ok {
		t.Fatal("the rollover made no link certificate")
	}
	alternate := func(r *acmetest.Response) []string {
		var out []string
		for _, l := range r.Header.Values("Link") {
			if bytes.HasSuffix([]byte(l), []byte(`rel="alternate"`)) {
				out = append(out, l)
			}
		}
		return out
	}

	tests := []struct {
		name    string
		url     string
		status  int
		chain   []*x509.Certificate // after the leaf
		links   []string
		signers []*x509.Certificate // each certificate's issuer, the leaf's first
	}{
		{"old leaf", oldOrder.Certificate, 200, []*x509.Certificate{oldCA}, nil, []*x509.Certificate{oldCA}},
		{"old leaf has no alternate", oldOrder.Certificate + "/1", 404, nil, nil, nil},
		{"new leaf, default chain", newOrder.Certificate, 200, []*x509.Certificate{newCA},
			[]string{"<" + newOrder.Certificate + `/1>;rel="alternate"`}, []*x509.Certificate{newCA}},
		{"new leaf, alternate chain", newOrder.Certificate + "/1", 200, []*x509.Certificate{link, oldCA},
			[]string{"<" + newOrder.Certificate + `>;rel="alternate"`}, []*x509.Certificate{link, oldCA}},
		{"no second alternate", newOrder.Certificate + "/2", 404, nil, nil, nil},
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.Engine.Root())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Post(tc.url, nil).Must(t, tc.status)
			if got := alternate(r); !slices.Equal(got, tc.links) {
				t.Errorf("alternate links %q, want %q", got, tc.links)
			}
			if tc.status != 200 {
				if r.Prob.Type != "urn:ietf:params:acme:error:malformed" && r.Status != 404 {
					t.Errorf("problem %+v", r.Prob)
				}
				return
			}
			got := pemChain(t, r.Body)
			if len(got) != 1+len(tc.chain) {
				t.Fatalf("%d certificates, want the leaf and %d", len(got), len(tc.chain))
			}
			for i, want := range tc.chain {
				if !got[1+i].Equal(want) {
					t.Errorf("certificate %d is %s (SKI %x), want SKI %x", 1+i, got[1+i].Subject, got[1+i].SubjectKeyId, want.SubjectKeyId)
				}
			}
			// Each certificate is signed by the next one's key, and the
			// top one chains to the root.
			for i, s := range tc.signers {
				if err := got[i].CheckSignatureFrom(s); err != nil {
					t.Errorf("certificate %d is not signed by %s (SKI %x): %v", i, s.Subject, s.SubjectKeyId, err)
				}
			}
			top := got[len(got)-1]
			if _, err := top.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("the chain's top certificate does not verify to the root: %v", err)
			}
			im := x509.NewCertPool()
			for _, c := range got[1:] {
				im.AddCert(c)
			}
			_, err := got[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: im, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			// The Services CA has pathLenConstraint 0: crypto/x509 counts
			// the self-issued link certificate against it, which RFC 5280
			// §6.1.4 (l) does not (OpenSSL verifies the alternate chain:
			// conformance/acme); below a CA with room, crypto/x509 verifies
			// it too (ca's TestRolloverLinkPathLen).
			if wantOK := len(tc.chain) == 1; (err == nil) != wantOK {
				t.Errorf("x509.Verify of the chain: %v, want ok %v", err, wantOK)
			}
		})
	}
}
