package ca_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

const partnerProfile = `description: "a partner's TLS certificates"
issuer: partner
protocols: [acme, est]
identifiers:
  dns: ["partner.example", "*.partner.example", "*.other.example"]
  ip: [10.0.0.0/8, 192.0.2.0/24]
keys:
  - {type: ecdsa, curves: [P-256]}
validity: 168h
backdate: 1m
key_usage: [digital_signature]
ext_key_usage: [server_auth]
renewal_fraction: 0.33
lint_ignore: [e_dnsname_not_valid_tld, e_ext_san_contains_reserved_ip]
`

// lifecycleFixture: the default hierarchy plus ext-orgs (path length 1,
// below the root) and partner (below ext-orgs, constrained to
// partner.example and 192.0.2.0/24, 10.0.0.0/8 excluded), with the
// engine reopened on profiles that include one naming partner.
func lifecycleFixture(t *testing.T) (*fixture, *x509.Certificate, *x509.Certificate) {
	t.Helper()
	ctx := context.Background()
	hc := ca.DefaultHierarchy()
	hc.Locality = "Berlin"
	dir := t.TempDir()
	f := openFixture(t, dir, hc)
	orgs, err := f.engine.CreateCA(ctx, ca.CreateCARequest{Name: "ext-orgs", Parent: ca.RootCA, PathLen: 1, CommonName: "VCC External Organizations CA"}, "test")
	if err != nil {
		t.Fatalf("create ext-orgs: %v", err)
	}
	excluded, _ := ca.ParseCIDRs([]string{"10.0.0.0/8"})
	permitted, _ := ca.ParseCIDRs([]string{"192.0.2.0/24"})
	partner, err := f.engine.CreateCA(ctx, ca.CreateCARequest{Name: "partner", Parent: "ext-orgs", KeyType: "ecdsa-p384",
		PermittedDNS: []string{"partner.example"}, ExcludedIP: excluded, PermittedIP: permitted}, "test")
	if err != nil {
		t.Fatalf("create partner: %v", err)
	}
	profiles := t.TempDir()
	entries, _ := os.ReadDir("../configs/profiles")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("../configs/profiles", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(profiles, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(profiles, "partner.yaml"), []byte(partnerProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	return openFixtureProfiles(t, dir, hc, profiles), orgs, partner
}

var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

func TestCreateCA(t *testing.T) {
	f, orgs, partner := lifecycleFixture(t)
	roots := x509.NewCertPool()
	roots.AddCert(f.engine.Root())
	inter := x509.NewCertPool()
	inter.AddCert(orgs)
	if _, err := partner.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("partner CA does not verify to the root through ext-orgs: %v", err)
	}
	if orgs.MaxPathLen != 1 || partner.MaxPathLen != 0 || !partner.MaxPathLenZero {
		t.Errorf("path lengths: ext-orgs %d, partner %d (zero %v); want 1 and 0", orgs.MaxPathLen, partner.MaxPathLen, partner.MaxPathLenZero)
	}
	i := slices.IndexFunc(partner.Extensions, func(e pkixExt) bool { return e.Id.Equal(oidNameConstraints) })
	if i < 0 || !partner.Extensions[i].Critical {
		t.Fatalf("partner CA: name constraints extension missing or not critical (index %d)", i)
	}
	if !slices.Equal(partner.PermittedDNSDomains, []string{"partner.example"}) || len(partner.ExcludedIPRanges) != 1 || len(partner.PermittedIPRanges) != 1 {
		t.Errorf("partner CA constraints: %v %v %v", partner.PermittedDNSDomains, partner.PermittedIPRanges, partner.ExcludedIPRanges)
	}
	if slices.ContainsFunc(orgs.Extensions, func(e pkixExt) bool { return e.Id.Equal(oidNameConstraints) }) {
		t.Errorf("ext-orgs was created without constraints but carries the extension")
	}
	if got := f.engine.IssuingCAs(); !slices.Contains(got, "partner") || !slices.Contains(got, "ext-orgs") {
		t.Errorf("IssuingCAs = %v", got)
	}
	r, err := f.engine.OCSPResponder("partner")
	if err != nil {
		t.Fatalf("OCSP responder of partner: %v", err)
	}
	if err := r.Certificate().CheckSignatureFrom(partner); err != nil {
		t.Errorf("partner's OCSP responder certificate is not signed by partner: %v", err)
	}
	if c, ok := f.engine.CACert("partner"); !ok || !c.Equal(partner) {
		t.Errorf("CACert(partner) = %v", ok)
	}
	if got := f.engine.CRLIssuers(); !slices.Contains(got, "partner") {
		t.Errorf("CRLIssuers = %v", got)
	}
}

type pkixExt = pkix.Extension

func TestCreateCARefusals(t *testing.T) {
	f, _, _ := lifecycleFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  ca.CreateCARequest
		want caerr.Kind
		msg  string
	}{
		{"name taken", ca.CreateCARequest{Name: "services", Parent: ca.RootCA}, caerr.Conflict, "exists already"},
		{"responder name taken", ca.CreateCARequest{Name: "ocsp-x", Parent: ca.RootCA}, caerr.Malformed, "reserved"},
		{"bad name", ca.CreateCARequest{Name: "Bad Name", Parent: ca.RootCA}, caerr.Malformed, "lowercase"},
		{"unknown parent", ca.CreateCARequest{Name: "x", Parent: "nope"}, caerr.NotFound, "nope"},
		{"parent is a responder", ca.CreateCARequest{Name: "x", Parent: "ocsp-services"}, caerr.NotFound, "ocsp-services"},
		{"parent path length 0", ca.CreateCARequest{Name: "x", Parent: ca.ServicesCA}, caerr.Conflict, "path length"},
		{"below partner", ca.CreateCARequest{Name: "x", Parent: "partner"}, caerr.Conflict, "path length"},
		{"path length not below parent's", ca.CreateCARequest{Name: "x", Parent: "ext-orgs", PathLen: 1}, caerr.Conflict, "path length"},
		{"bad DNS constraint", ca.CreateCARequest{Name: "x", Parent: ca.RootCA, PermittedDNS: []string{"bad..example"}}, caerr.Malformed, "bad..example"},
		{"bad key type", ca.CreateCARequest{Name: "x", Parent: ca.RootCA, KeyType: "dsa"}, caerr.Malformed, "key type"},
		{"unknown organisation", ca.CreateCARequest{Name: "x", Parent: "ext-orgs", Organisation: "nobody"}, caerr.NotFound, `no organisation "nobody"`},
		{"bad organisation name", ca.CreateCARequest{Name: "x", Parent: "ext-orgs", Organisation: "Bad Org"}, caerr.Malformed, "organisation name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.engine.CreateCA(ctx, tc.req, "test")
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	if recs, _ := f.store.CAs(ctx); slices.ContainsFunc(recs, func(r store.CARecord) bool { return r.Name == "x" }) {
		t.Errorf("a refused request stored CA x")
	}
	if _, err := ca.ParseCIDRs([]string{"10.0.0.1/8"}); !errors.Is(err, caerr.Malformed) {
		t.Errorf("ParseCIDRs of a host address: %v", err)
	}
	if _, err := ca.ParseCIDRs([]string{"10.0.0.0"}); !errors.Is(err, caerr.Malformed) {
		t.Errorf("ParseCIDRs without a prefix: %v", err)
	}
}

func TestNameConstraintsRefuseBeforeSigning(t *testing.T) {
	f, orgs, partner := lifecycleFixture(t)
	ctx := context.Background()
	roots := x509.NewCertPool()
	roots.AddCert(f.engine.Root())
	inter := x509.NewCertPool()
	inter.AddCert(orgs)
	inter.AddCert(partner)
	for _, tc := range []struct {
		name string
		csr  csrSpec
		msg  string // "" = issued
	}{
		{"inside", csrSpec{dns: []string{"www.partner.example", "partner.example"}}, ""},
		{"permitted IP", csrSpec{dns: []string{"a.partner.example"}, ips: []string{"192.0.2.7"}}, ""},
		{"outside the permitted DNS subtree", csrSpec{dns: []string{"www.other.example"}}, "permitted dNSName partner.example"},
		{"one name of two outside", csrSpec{dns: []string{"a.partner.example", "b.other.example"}}, "b.other.example is outside"},
		{"excluded IP", csrSpec{dns: []string{"a.partner.example"}, ips: []string{"10.1.2.3"}}, "excluded iPAddress 10.0.0.0/8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countCerts(t, f.store)
			iss, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "partner", CSR: makeCSR(t, tc.csr), Requester: operator()})
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Issue: %v", err)
				}
				if _, err := iss.Certificate.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
					t.Errorf("issued certificate does not verify: %v", err)
				}
				return
			}
			if !errors.Is(err, caerr.RejectedIdentifier) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), partner.Subject.CommonName) {
				t.Errorf("got %v, want RejectedIdentifier naming %q and the CA", err, tc.msg)
			}
			if n := countCerts(t, f.store); n != before {
				t.Errorf("a refused request left %d certificates, had %d", n, before)
			}
		})
	}
}

func TestCheckNameConstraints(t *testing.T) {
	nets, _ := ca.ParseCIDRs([]string{"192.0.2.0/24"})
	c := &x509.Certificate{PermittedDNSDomains: []string{"partner.example", ".sub.example"}, ExcludedDNSDomains: []string{"bad.partner.example"}, PermittedIPRanges: nets}
	for _, tc := range []struct {
		name string
		dns  string
		ip   string
		ok   bool
	}{
		{"the domain itself", "partner.example", "", true},
		{"a subdomain", "a.b.partner.example", "", true},
		{"case ignored", "WWW.Partner.Example", "", true},
		{"a suffix that is not a label", "xpartner.example", "", false},
		{"leading dot: the domain itself", "sub.example", "", false},
		{"leading dot: a subdomain", "a.sub.example", "", true},
		{"excluded subtree", "x.bad.partner.example", "", false},
		{"wildcard inside", "*.partner.example", "", true},
		{"permitted IP", "", "192.0.2.1", true},
		{"IP outside", "", "198.51.100.1", false},
		{"IPv6 outside an IPv4 range", "", "2001:db8::1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dns []string
			var ips []net.IP
			if tc.dns != "" {
				dns = []string{tc.dns}
			}
			if tc.ip != "" {
				ips = []net.IP{net.ParseIP(tc.ip)}
			}
			err := ca.CheckNameConstraints([]*x509.Certificate{c}, dns, ips, nil)
			if (err == nil) != tc.ok {
				t.Errorf("CheckNameConstraints(%q, %q) = %v, want ok=%v", tc.dns, tc.ip, err, tc.ok)
			}
		})
	}
}

// TestCreateCAForOrganisation: a CA created for an organisation is that
// organisation's in the same transaction (its profiles may name it), and
// the audit entry is in the organisation's view.
func TestCreateCAForOrganisation(t *testing.T) {
	f, _, _ := lifecycleFixture(t)
	ctx := context.Background()
	ev := store.AuditEvent{Time: time.Now().UTC(), Actor: "test", Action: "org.create", Object: "akme", Result: "ok"}
	if err := f.store.CreateOrganisation(ctx, store.Organisation{Name: "akme", Display: "Akme GmbH", CreatedAt: time.Now().UTC(), CreatedBy: "test"}, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.CreateCA(ctx, ca.CreateCARequest{Name: "ext-akme", Parent: "ext-orgs", Organisation: "akme", PermittedDNS: []string{".akme.example"}}, "test"); err != nil {
		t.Fatal(err)
	}
	if owner, err := f.store.CAOrganisation(ctx, "ext-akme"); err != nil || owner != "akme" {
		t.Errorf("owner of ext-akme = %q, %v; want akme", owner, err)
	}
	if owner, err := f.store.CAOrganisation(ctx, "partner"); err != nil || owner != store.OperatorOrg {
		t.Errorf("owner of partner = %q, %v; want the operator", owner, err)
	}
	var entries []store.AuditEntry
	err := f.store.AuditEntries(ctx, store.AuditFilter{Org: "akme", Action: "ca.create"}, func(e store.AuditEntry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil || len(entries) != 1 || entries[0].Object != "ext-akme under ext-orgs" {
		t.Errorf("akme's ca.create entries: %+v, %v", entries, err)
	}
}
