package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

func adminCSR(t *testing.T, cn string, dns []string, uris ...string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// The admin profile issues client certificates of the Admin CA whose URI
// SANs are the roles they grant, and only the roles it lists.
func TestAdminProfile(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	admin, _ := f.engine.CACert(ca.AdminCA)
	for _, tc := range []struct {
		name    string
		csr     []byte
		want    []string
		wantErr caerr.Kind
	}{
		{"one role", adminCSR(t, "automation-1", nil, "urn:vccpki:role:pki_admin"), []string{"urn:vccpki:role:pki_admin"}, 0},
		{"two roles", adminCSR(t, "ci", nil, "urn:vccpki:role:auditor", "urn:vccpki:role:verifier"), []string{"urn:vccpki:role:auditor", "urn:vccpki:role:verifier"}, 0},
		{"an unknown role", adminCSR(t, "x", nil, "urn:vccpki:role:root"), nil, caerr.RejectedIdentifier},
		{"another URI", adminCSR(t, "x", nil, "https://evil.test/pki_admin"), nil, caerr.RejectedIdentifier},
		{"no role", adminCSR(t, "x", nil), nil, caerr.RejectedIdentifier},
		{"a DNS name", adminCSR(t, "x", []string{"x.test"}, "urn:vccpki:role:auditor"), nil, caerr.RejectedIdentifier},
		{"no commonName", adminCSR(t, "", nil, "urn:vccpki:role:auditor"), nil, caerr.RejectedIdentifier},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := f.engine.Issue(context.Background(), ca.IssueRequest{Profile: "admin", CSR: tc.csr, Requester: operator()})
			if tc.wantErr != 0 {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := iss.Certificate
			var got []string
			for _, u := range c.URIs {
				got = append(got, u.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("URIs %v, want %v", got, tc.want)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
				t.Errorf("EKU %v", c.ExtKeyUsage)
			}
			if err := c.CheckSignatureFrom(admin); err != nil {
				t.Errorf("not signed by the Admin CA: %v", err)
			}
		})
	}
}

// legacyStore creates hierarchies without the Admin CA, as vccpki did
// before it existed.
type legacyStore struct{ store.Store }

func (s legacyStore) CreateHierarchy(ctx context.Context, keys []store.KeyRecord, cas []store.CARecord, ev store.AuditEvent) error {
	cas = slices.DeleteFunc(slices.Clone(cas), func(r store.CARecord) bool {
		return r.Name == ca.AdminCA || r.Name == ca.OCSPResponderName(ca.AdminCA)
	})
	keys = slices.DeleteFunc(slices.Clone(keys), func(k store.KeyRecord) bool {
		return strings.HasPrefix(k.ID, ca.AdminCA+"-") || strings.HasPrefix(k.ID, ca.OCSPResponderName(ca.AdminCA)+"-")
	})
	return s.Store.CreateHierarchy(ctx, keys, cas, ev)
}

func TestAddAdminCA(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek, params, err := keys.NewKEK([]byte(testPassphrase), testKDF)
	if err != nil {
		t.Fatal(err)
	}
	ks := keys.NewSoftware(kek, st)
	cfg := ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: ca.DefaultHierarchy()}
	cfg.Hierarchy.Locality = "Berlin"
	if _, err := ca.Bootstrap(ctx, legacyStore{st}, ks, cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		t.Fatal(err)
	}
	profiles, err := profile.Load("../configs/profiles", ca.IssuingCAs)
	if err != nil {
		t.Fatal(err)
	}
	// An old hierarchy opens with the admin profile loaded; the profile
	// says what to run.
	e, err := ca.Open(ctx, st, ks, profiles, cfg, ca.Options{})
	if err != nil {
		t.Fatalf("opening a hierarchy without the Admin CA: %v", err)
	}
	if slices.Contains(e.CRLIssuers(), ca.AdminCA) {
		t.Error("an absent Admin CA publishes a CRL")
	}
	_, err = e.Issue(ctx, ca.IssueRequest{Profile: "admin", CSR: adminCSR(t, "a", nil, "urn:vccpki:role:auditor"), Requester: operator()})
	if !errors.Is(err, caerr.Unavailable) || !strings.Contains(err.Error(), "add-admin-ca") {
		t.Fatalf("issuing without the Admin CA: %v", err)
	}

	for i, want := range []bool{true, false} {
		added, err := ca.AddAdminCA(ctx, st, ks, cfg, "operator:test")
		if err != nil || added != want {
			t.Fatalf("run %d: added=%v err=%v, want %v", i+1, added, err, want)
		}
	}
	e, err = ca.Open(ctx, st, ks, profiles, cfg, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin, ok := e.CACert(ca.AdminCA)
	if !ok || admin.Subject.CommonName != "VCC Admin CA" || admin.CheckSignatureFrom(e.Root()) != nil {
		t.Fatalf("Admin CA %v", admin)
	}
	if _, ok := e.CACert(ca.OCSPResponderName(ca.AdminCA)); !ok {
		t.Error("no OCSP responder for the Admin CA")
	}
	if !slices.Contains(e.CRLIssuers(), ca.AdminCA) {
		t.Error("the Admin CA publishes no CRL")
	}
	if _, err := e.Issue(ctx, ca.IssueRequest{Profile: "admin", CSR: adminCSR(t, "a", nil, "urn:vccpki:role:auditor"), Requester: operator()}); err != nil {
		t.Fatalf("issuing after add-admin-ca: %v", err)
	}
	var audited []string
	if err := st.WalkAudit(ctx, func(a store.AuditEntry) error {
		if a.Action == "ca.add-admin-ca" {
			audited = append(audited, a.Object+" by "+a.Actor)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"admin by operator:test", "ocsp-admin by operator:test"}; !slices.Equal(audited, want) {
		t.Errorf("audit %v, want %v", audited, want)
	}
}
