package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"golang.org/x/crypto/ocsp"
)

// ocspVerify signs a response for serial with the responder of the CA
// generation key and parses it against issuer, which checks the
// signature and that the responder is the issuer or a certificate it
// signed (RFC 6960 §4.2.2.2).
func ocspVerify(t *testing.T, e *ca.Engine, key string, serial *big.Int, issuer *x509.Certificate) *ocsp.Response {
	t.Helper()
	ctx := context.Background()
	r, err := e.OCSPResponder(key)
	if err != nil {
		t.Fatalf("OCSPResponder(%s): %v", key, err)
	}
	st, err := e.StatusOf(ctx, key, serial)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := r.Sign(ctx, []ca.OCSPSingle{{Hash: crypto.SHA256, Serial: serial, Status: st}}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponseForCert(ca.AppendOCSPResponse(nil, signed.Signed, signed.Certs), &x509.Certificate{SerialNumber: serial}, issuer)
	if err != nil {
		t.Fatalf("the OCSP answer of %s for %x: %v", key, serial, err)
	}
	return resp
}

func TestRolloverCA(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	issue := func(e *ca.Engine, name string) *x509.Certificate {
		t.Helper()
		iss, err := e.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{name}}), Requester: operator()})
		if err != nil {
			t.Fatal(err)
		}
		return iss.Certificate
	}
	oldCA, _ := f.engine.CACert(ca.ServicesCA)
	oldLeaf := issue(f.engine, "old.argus.test")
	// A second engine on the same store stands for another process.
	other := openFixture(t, f.dir, f.hc)

	newCA, err := f.engine.RolloverCA(ctx, ca.RolloverCARequest{Name: ca.ServicesCA}, "test")
	if err != nil {
		t.Fatalf("RolloverCA: %v", err)
	}
	if bytes.Equal(newCA.SubjectKeyId, oldCA.SubjectKeyId) || !bytes.Equal(newCA.RawSubject, oldCA.RawSubject) ||
		newCA.MaxPathLen != oldCA.MaxPathLen || newCA.MaxPathLenZero != oldCA.MaxPathLenZero ||
		!slices.Equal(newCA.ExtKeyUsage, oldCA.ExtKeyUsage) || newCA.PublicKeyAlgorithm != oldCA.PublicKeyAlgorithm {
		t.Errorf("new generation: SKI %x (old %x), subject %q (old %q), path len %d/%v (old %d/%v), EKU %v (old %v)",
			newCA.SubjectKeyId, oldCA.SubjectKeyId, newCA.Subject, oldCA.Subject, newCA.MaxPathLen, newCA.MaxPathLenZero,
			oldCA.MaxPathLen, oldCA.MaxPathLenZero, newCA.ExtKeyUsage, oldCA.ExtKeyUsage)
	}
	if err := newCA.CheckSignatureFrom(f.engine.Root()); err != nil {
		t.Errorf("the new generation is not signed by the root: %v", err)
	}
	if c, _ := f.engine.CACert(ca.ServicesCA); !c.Equal(newCA) {
		t.Error("CACert(services) is not the new generation")
	}

	// New issuance uses the new key at once here, and in the other
	// process after its Refresh.
	newLeaf := issue(f.engine, "new.argus.test")
	if _, err := other.engine.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	otherLeaf := issue(other.engine, "other.argus.test")
	for name, leaf := range map[string]*x509.Certificate{"this process": newLeaf, "the other process": otherLeaf} {
		if !bytes.Equal(leaf.AuthorityKeyId, newCA.SubjectKeyId) || leaf.CheckSignatureFrom(newCA) != nil {
			t.Errorf("%s: a new leaf's AKI is %x, want the new SKI %x", name, leaf.AuthorityKeyId, newCA.SubjectKeyId)
		}
		if !strings.HasSuffix(leaf.CRLDistributionPoints[0], "/crl/services_2.crl") || !strings.HasSuffix(leaf.IssuingCertificateURL[0], "/ca/services_2.crt") {
			t.Errorf("%s: a new leaf names CRL %v and caIssuers %v, want the generation's URLs", name, leaf.CRLDistributionPoints, leaf.IssuingCertificateURL)
		}
	}
	if !strings.HasSuffix(oldLeaf.CRLDistributionPoints[0], "/crl/services.crl") {
		t.Fatalf("the old leaf names CRL %v", oldLeaf.CRLDistributionPoints)
	}

	// Chains and renewal information per generation.
	for _, tc := range []struct {
		name    string
		leaf    *x509.Certificate
		issuer  *x509.Certificate
		retired bool
	}{
		{"old leaf", oldLeaf, oldCA, true},
		{"new leaf", newLeaf, newCA, false},
	} {
		info, err := f.engine.Certificate(ctx, tc.leaf.SerialNumber)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Chain) == 0 || !info.Chain[0].Equal(tc.issuer) {
			t.Errorf("%s: chain does not start with the generation that signed it", tc.name)
		}
		if info.IssuerRetiredAt.IsZero() != !tc.retired {
			t.Errorf("%s: IssuerRetiredAt %v, want retired %v", tc.name, info.IssuerRetiredAt, tc.retired)
		}
	}
	if got := f.engine.CACertGenerations(ca.ServicesCA); len(got) != 2 || !got[0].Equal(newCA) || !got[1].Equal(oldCA) {
		t.Errorf("CACertGenerations(services) has %d certificates, want the new and the old generation", len(got))
	}

	// An old leaf revoked after the rollover goes on the old key's CRL.
	if err := f.engine.Revoke(ctx, oldLeaf.SerialNumber, ca.KeyCompromise, operator()); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*ca.Engine{f.engine, other.engine} {
		if !slices.Contains(e.CRLIssuers(), "services") || !slices.Contains(e.CRLIssuers(), "services_2") {
			t.Errorf("CRLIssuers %v lack a generation", e.CRLIssuers())
		}
		if !slices.Contains(e.OCSPIssuers(), "services") || !slices.Contains(e.OCSPIssuers(), "services_2") {
			t.Errorf("OCSPIssuers %v lack a generation", e.OCSPIssuers())
		}
		for _, tc := range []struct {
			key       string
			issuer    *x509.Certificate
			revoked   *big.Int
			wantURL   string
			notListed *big.Int
		}{
			{"services", oldCA, oldLeaf.SerialNumber, "/crl/services.crl", newLeaf.SerialNumber},
			{"services_2", newCA, nil, "/crl/services_2.crl", oldLeaf.SerialNumber},
		} {
			der, err := e.CRL(ctx, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(tc.issuer); err != nil {
				t.Errorf("CRL %s does not verify with its generation's certificate: %v", tc.key, err)
			}
			if !bytes.Equal(crl.AuthorityKeyId, tc.issuer.SubjectKeyId) {
				t.Errorf("CRL %s AKI %x, want %x", tc.key, crl.AuthorityKeyId, tc.issuer.SubjectKeyId)
			}
			if url, _, _, ok := idpOf(t, crl); !ok || !strings.HasSuffix(url, tc.wantURL) {
				t.Errorf("CRL %s IDP %q, want …%s", tc.key, url, tc.wantURL)
			}
			listed := func(s *big.Int) bool {
				return slices.ContainsFunc(crl.RevokedCertificateEntries, func(r x509.RevocationListEntry) bool { return r.SerialNumber.Cmp(s) == 0 })
			}
			if tc.revoked != nil && !listed(tc.revoked) {
				t.Errorf("CRL %s does not list the revoked old leaf", tc.key)
			}
			if listed(tc.notListed) {
				t.Errorf("CRL %s lists a certificate of another generation", tc.key)
			}
		}
		// OCSP: each generation answers for its own certificates, signed
		// by a responder it issued (or itself).
		if r := ocspVerify(t, e, "services", oldLeaf.SerialNumber, oldCA); r.Status != ocsp.Revoked {
			t.Errorf("OCSP for the old leaf: status %d, want revoked", r.Status)
		}
		if r := ocspVerify(t, e, "services_2", newLeaf.SerialNumber, newCA); r.Status != ocsp.Good {
			t.Errorf("OCSP for the new leaf: status %d, want good", r.Status)
		}
		if r := ocspVerify(t, e, "services", newLeaf.SerialNumber, oldCA); r.Status != ocsp.Unknown {
			t.Errorf("the old generation answers %d for a new leaf, want unknown", r.Status)
		}
	}
}

func TestRolloverCARefused(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	if _, err := f.engine.CreateCA(ctx, ca.CreateCARequest{Name: "doomed", Parent: ca.RootCA}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.engine.RevokeCA(ctx, ca.RevokeCARequest{Name: "doomed", Reason: ca.CessationOfOperation}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ca string
		want     error
	}{
		{"unknown CA", "nope", caerr.NotFound},
		{"root", ca.RootCA, caerr.Conflict},
		{"revoked CA", "doomed", caerr.Conflict},
		{"an OCSP responder", ca.OCSPResponderName(ca.ServicesCA), caerr.NotFound},
		{"bad key type", ca.ServicesCA, caerr.Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ca.RolloverCARequest{Name: tc.ca}
			if tc.name == "bad key type" {
				req.KeyType = "dsa-1024"
			}
			if _, err := f.engine.RolloverCA(ctx, req, "test"); !errors.Is(err, tc.want) {
				t.Errorf("RolloverCA(%s) = %v, want %v", tc.ca, err, tc.want)
			}
		})
	}
	if c, _ := f.engine.CACert(ca.ServicesCA); len(f.engine.CACertGenerations(ca.ServicesCA)) != 1 || c == nil {
		t.Error("a refused rollover changed the hierarchy")
	}
}

// TestIssuerKeys: after two rollovers every generation's key is an issuer
// key (what vccpki reissue --issuer accepts), and no OCSP responder is.
func TestIssuerKeys(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	for range 2 {
		if _, err := f.engine.RolloverCA(ctx, ca.RolloverCARequest{Name: ca.ServicesCA}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ca.IssuerKeys(ctx, f.store)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"services", "services_2", "services_3", "code-signing"} {
		if !slices.Contains(got, want) {
			t.Errorf("IssuerKeys = %v, lacks %s", got, want)
		}
	}
	if slices.ContainsFunc(got, func(k string) bool { return strings.HasPrefix(k, "ocsp") || k == ca.RootCA }) {
		t.Errorf("IssuerKeys = %v names the root or a responder", got)
	}
}
