package ca_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
)

// crlOf signs and parses the full CRL of issuer, checked against the
// issuer's certificate.
func crlOf(t *testing.T, f *fixture, issuer string) *x509.RevocationList {
	t.Helper()
	der, err := f.engine.CRL(context.Background(), issuer)
	if err != nil {
		t.Fatalf("CRL(%s): %v", issuer, err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.engine.CACert(issuer)
	if err := crl.CheckSignatureFrom(c); err != nil {
		t.Fatalf("CRL of %s: %v", issuer, err)
	}
	return crl
}

func TestRevokeCA(t *testing.T) {
	f, orgs, partner := lifecycleFixture(t)
	ctx := context.Background()
	leaf, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "partner", CSR: makeCSR(t, csrSpec{dns: []string{"www.partner.example"}}), Requester: operator()})
	if err != nil {
		t.Fatal(err)
	}
	// A second engine on the same store stands for another process.
	other := openFixtureProfiles(t, f.dir, f.hc, f.profilesDir)

	if err := f.engine.RevokeCA(ctx, ca.RevokeCARequest{Name: "partner", Reason: ca.CACompromise}, "test"); err != nil {
		t.Fatalf("RevokeCA: %v", err)
	}
	for name, e := range map[string]*ca.Engine{"this process": f.engine, "another process after Refresh": other.engine} {
		if _, err := e.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := e.Issue(ctx, ca.IssueRequest{Profile: "partner", CSR: makeCSR(t, csrSpec{dns: []string{"a.partner.example"}}), Requester: operator()})
		if !errors.Is(err, caerr.Conflict) || !strings.Contains(err.Error(), "partner CA is revoked") {
			t.Errorf("%s: issuance under the revoked CA: %v", name, err)
		}
	}
	if at, ok := f.engine.CARevoked("partner"); !ok || at.IsZero() {
		t.Errorf("CARevoked(partner) = %v, %v", at, ok)
	}

	// ext-orgs' CRL lists partner with its reason; its IDP has neither
	// onlyContains flag (it covers CA and end-entity certificates).
	crl := crlOf(t, f, "ext-orgs")
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(partner.SerialNumber) != 0 ||
		crl.RevokedCertificateEntries[0].ReasonCode != int(ca.CACompromise) {
		t.Errorf("ext-orgs CRL entries %+v, want partner's serial with cACompromise", crl.RevokedCertificateEntries)
	}
	if url, userOnly, caOnly, ok := idpOf(t, crl); !ok || userOnly || caOnly || !strings.HasSuffix(url, "/crl/ext-orgs.crl") {
		t.Errorf("ext-orgs CRL IDP %q user-only %v CA-only %v present %v; want its URL and no scope flag", url, userOnly, caOnly, ok)
	}
	// The leaf is still valid as far as partner's CRL goes, but its chain is broken.
	if err := leaf.Certificate.CheckSignatureFrom(partner); err != nil {
		t.Fatal(err)
	}
	// ext-orgs's OCSP responder answers revoked for partner.
	st, err := f.engine.StatusOf(ctx, "ext-orgs", partner.SerialNumber)
	if err != nil || st.Status != ca.Revoked || st.Reason != ca.CACompromise {
		t.Errorf("StatusOf(ext-orgs, partner) = %+v, %v; want revoked, cACompromise", st, err)
	}
	if st, err := f.engine.StatusOf(ctx, ca.RootCA, orgs.SerialNumber); err != nil || st.Status == ca.Revoked {
		t.Errorf("StatusOf(root, ext-orgs) = %+v, %v", st, err)
	}
	// ACME renewal information reads IssuerRevokedAt: renew now.
	if info, err := f.engine.Certificate(ctx, leaf.Certificate.SerialNumber); err != nil || info.IssuerRevokedAt.IsZero() || !info.RevokedAt.IsZero() {
		t.Errorf("Certificate(leaf) = %+v, %v; want IssuerRevokedAt set, the leaf itself unrevoked", info, err)
	}
	// Every valid certificate under partner is listed.
	under, err := f.engine.CertificatesUnder(ctx, "partner")
	if err != nil || len(under) != 1 || under[0].Serial != leaf.Serial {
		t.Errorf("CertificatesUnder(partner) = %v, %v; want %s", under, err, leaf.Serial)
	}

	// Revoking ext-orgs puts it on the root's CRL, an ARL (RFC 5280
	// §5.2.5: onlyContainsCACerts), and stops partner's descendants too.
	if err := f.engine.RevokeCA(ctx, ca.RevokeCARequest{Name: "ext-orgs", Reason: ca.Superseded}, "test"); err != nil {
		t.Fatal(err)
	}
	arl := crlOf(t, f, ca.RootCA)
	if len(arl.RevokedCertificateEntries) != 1 || arl.RevokedCertificateEntries[0].SerialNumber.Cmp(orgs.SerialNumber) != 0 ||
		arl.RevokedCertificateEntries[0].ReasonCode != int(ca.Superseded) {
		t.Errorf("root CRL entries %+v, want ext-orgs with superseded", arl.RevokedCertificateEntries)
	}
	if url, userOnly, caOnly, ok := idpOf(t, arl); !ok || userOnly || !caOnly || url != "" {
		t.Errorf("root CRL IDP %q user-only %v CA-only %v; want onlyContainsCACerts and no distribution point", url, userOnly, caOnly)
	}
	// zlint's e_cab_crl_has_valid_reason_code checks every entry against
	// the subscriber reasons of BR §7.2.2, so ext-orgs' CRL, whose entry is
	// a CA's cACompromise (RFC 5280 §5.3.1), is not linted here.
	lintCRL(t, arl.Raw)
}

func TestRevokeCARefusals(t *testing.T) {
	f, _, _ := lifecycleFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  ca.RevokeCARequest
		want caerr.Kind
		msg  string
	}{
		{"root", ca.RevokeCARequest{Name: ca.RootCA, Reason: ca.CACompromise}, caerr.Conflict, "root"},
		{"HTTPS certificate's CA", ca.RevokeCARequest{Name: ca.ServicesCA, Reason: ca.CACompromise}, caerr.Conflict, "HTTPS"},
		{"unknown", ca.RevokeCARequest{Name: "nope", Reason: ca.CACompromise}, caerr.NotFound, "nope"},
		{"a responder", ca.RevokeCARequest{Name: "ocsp-partner", Reason: ca.CACompromise}, caerr.NotFound, "ocsp-partner"},
		{"reason for end entities only", ca.RevokeCARequest{Name: "partner", Reason: ca.PrivilegeWithdrawn}, caerr.BadRevocationReason, "privilegeWithdrawn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.engine.RevokeCA(ctx, tc.req, "test")
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	if err := f.engine.RevokeCA(ctx, ca.RevokeCARequest{Name: "partner", Reason: ca.KeyCompromise}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.engine.RevokeCA(ctx, ca.RevokeCARequest{Name: "partner", Reason: ca.KeyCompromise}, "test"); !errors.Is(err, caerr.Conflict) {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := f.engine.CreateCA(ctx, ca.CreateCARequest{Name: "x", Parent: "partner"}, "test"); !errors.Is(err, caerr.Conflict) {
		t.Errorf("creating a CA under a revoked one: %v", err)
	}
	for _, s := range []string{"cACompromise", "keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged"} {
		if _, err := ca.ParseCAReason(s); err != nil {
			t.Errorf("ParseCAReason(%s): %v", s, err)
		}
	}
	if _, err := ca.ParseCAReason("certificateHold"); !errors.Is(err, caerr.BadRevocationReason) {
		t.Errorf("ParseCAReason(certificateHold): %v", err)
	}
}
