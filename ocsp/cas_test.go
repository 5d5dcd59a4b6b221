package ocsp_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"net/http"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store/sqlite"
)

// TestCAsCreatedWhileRunning: CAs created after the responder started
// get their CRLs and OCSP answers without a restart, and a CA revoked
// here, or in another process and read by the server's Refresh, is on
// its parent's CRL and revoked in its parent's OCSP answers.
func TestCAsCreatedWhileRunning(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := context.Background()
	if r, body := s.get(t, "/crl/ext-orgs.crl"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("before ext-orgs exists: HTTP %d %s", r.StatusCode, body)
	}
	orgs, err := s.engine.CreateCA(ctx, ca.CreateCARequest{Name: "ext-orgs", Parent: ca.RootCA, PathLen: 1}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var partners []*x509.Certificate
	for _, n := range []string{"partner", "partner-b"} {
		c, err := s.engine.CreateCA(ctx, ca.CreateCARequest{Name: n, Parent: "ext-orgs", PermittedDNS: []string{".partner.example"}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		partners = append(partners, c)
	}
	ocspStatus := func(cert, issuer *x509.Certificate) int {
		t.Helper()
		resp, body := s.post(t, ocspRequest(t, cert, issuer, crypto.SHA1), "application/ocsp-request")
		if resp.StatusCode != 200 {
			t.Fatalf("OCSP: HTTP %d", resp.StatusCode)
		}
		r, err := parseResponse(t, body, cert, issuer)
		if err != nil {
			return -1 // unauthorized: not (yet) an issuer of this responder
		}
		return r.Status
	}
	listedCA := func(path string, issuer, c *x509.Certificate) bool {
		_, crl := fetchCRL(t, s, path, issuer)
		return listed(crl, ca.FormatSerial(c.SerialNumber))
	}

	eventually(t, "ext-orgs's OCSP responder answers for partner", func() bool { return ocspStatus(partners[0], orgs) == xocsp.Good })
	if listedCA("/crl/ext-orgs.crl", orgs, partners[0]) || listedCA("/crl/partner.crl", partners[0], partners[1]) {
		t.Fatal("a CRL lists a CA that is not revoked")
	}
	if listedCA("/crl/root.crl", s.root, orgs) {
		t.Fatal("the root's CRL lists ext-orgs")
	}

	for _, tc := range []struct {
		name   string
		cert   *x509.Certificate
		revoke func(t *testing.T)
	}{
		{"here", partners[0], func(t *testing.T) {
			if err := s.engine.RevokeCA(ctx, ca.RevokeCARequest{Name: "partner", Reason: ca.CACompromise}, "test"); err != nil {
				t.Fatal(err)
			}
		}},
		{"elsewhere then Refresh", partners[1], func(t *testing.T) {
			st, err := sqlite.Open(ctx, s.dbPath)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			hc := ca.DefaultHierarchy()
			hc.Locality = "Berlin"
			e, err := ca.Open(ctx, st, nil, nil, ca.Config{PublicURL: s.url, Hierarchy: hc}, ca.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.RevokeCA(ctx, ca.RevokeCARequest{Name: "partner-b", Reason: ca.CACompromise}, "elsewhere"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.engine.Refresh(ctx); err != nil { // the server's periodic read
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := fetchCRL(t, s, "/crl/ext-orgs.crl", orgs)
			tc.revoke(t)
			eventually(t, "ext-orgs's CRL lists the revoked CA", func() bool { return listedCA("/crl/ext-orgs.crl", orgs, tc.cert) })
			if _, after := fetchCRL(t, s, "/crl/ext-orgs.crl", orgs); after.Number.Cmp(before.Number) <= 0 {
				t.Errorf("CRL number %v after %v", after.Number, before.Number)
			}
			if st := ocspStatus(tc.cert, orgs); st != xocsp.Revoked {
				t.Errorf("OCSP status %d, want revoked", st)
			}
		})
	}
}
