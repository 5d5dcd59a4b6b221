package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/store"
)

// The partner organisations of the isolation tests: akme owns the
// code-signing CA of the shared test hierarchy (no CA can be created here
// yet), bravo owns none. Operator callers are unscoped, so the other
// tests see no difference.
const (
	akmeAdmin   = "ann@akme:pki_admin"
	akmeAuditor = "abe@akme:auditor"
	bravoAdmin  = "bea@bravo:pki_admin"
)

var orgsOnce sync.Once

func setupOrgs(t *testing.T) {
	t.Helper()
	orgsOnce.Do(func() {
		ctx := context.Background()
		for _, name := range []string{"akme", "bravo"} {
			o := store.Organisation{Name: name, Display: name, CreatedAt: time.Now(), CreatedBy: "test"}
			if err := testStore.CreateOrganisation(ctx, o, store.AuditEvent{Actor: "test", Action: "org.create", Object: name, Result: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := testStore.AddOrganisationCA(ctx, "akme", ca.CodeSigningCA, store.AuditEvent{Actor: "test", Action: "org.add-ca", Object: "akme", Result: "ok", Org: "akme"}); err != nil {
			t.Fatal(err)
		}
		// An entry of akme's own, so that its auditor's view is not empty.
		if err := testStore.AppendAudit(ctx, store.AuditEvent{Actor: "test", Action: "org.test", Object: "akme", Result: "ok", Org: "akme"}); err != nil {
			t.Fatal(err)
		}
	})
}

// issueSigning issues a certificate under the code-signing CA (akme's).
func issueSigning(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cn := "clara-" + uniq()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	iss, err := testEngine.Issue(context.Background(), ca.IssueRequest{Profile: "clara-signing", CSR: csr,
		Requester: ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	return iss.Serial
}

func TestOrganisations(t *testing.T) {
	setupOrgs(t)
	c := newClient(t, testSrv)
	name := "o" + uniq()
	r := c.do(admin, "POST", "/organisations", CreateOrganisationRequest{Name: name, Display: "Partner " + name})
	if r.StatusCode != http.StatusCreated || r.Header.Get("Location") != Prefix+"/organisations/"+name {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	tests := []struct {
		name   string
		who    string
		method string
		path   string
		body   any
		status int
	}{
		{"operator reads it", admin, "GET", "/organisations/" + name, nil, 200},
		{"twice", admin, "POST", "/organisations", CreateOrganisationRequest{Name: name, Display: "x"}, 409},
		{"malformed name", admin, "POST", "/organisations", CreateOrganisationRequest{Name: "Not_A_Label", Display: "x"}, 400},
		{"no display", admin, "POST", "/organisations", CreateOrganisationRequest{Name: "o" + uniq()}, 400},
		{"partner admin may not create", akmeAdmin, "POST", "/organisations", CreateOrganisationRequest{Name: "o" + uniq(), Display: "x"}, 403},
		{"partner reads itself", akmeAdmin, "GET", "/organisations/akme", nil, 200},
		{"partner cannot read another", akmeAdmin, "GET", "/organisations/" + name, nil, 404},
		{"partner cannot read the operator", akmeAdmin, "GET", "/organisations/vcc", nil, 404},
		{"unknown", admin, "GET", "/organisations/nope", nil, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := c.do(tc.who, tc.method, tc.path, tc.body); r.StatusCode != tc.status {
				t.Errorf("%s %s: %d %s; want %d", tc.method, tc.path, r.StatusCode, r.body, tc.status)
			}
		})
	}
	var page Page[Organisation]
	c.do(akmeAdmin, "GET", "/organisations", nil).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Name != "akme" || !slices.Equal(page.Items[0].CAs, []string{ca.CodeSigningCA}) {
		t.Errorf("akme's listing = %+v; want only itself with its CA", page.Items)
	}
	c.do(admin, "GET", "/organisations", nil).decode(t, &page)
	var names []string
	for _, o := range page.Items {
		names = append(names, o.Name)
	}
	if !slices.Contains(names, "vcc") || !slices.Contains(names, "akme") || !slices.Contains(names, name) {
		t.Errorf("the operator's listing = %v; want every organisation", names)
	}
}

// TestOrganisationIsolation: a caller of organisation A cannot list, read,
// issue under, revoke or read the audit entries of organisation B (here
// the operator, and the partner akme for bravo); each refusal is the
// API's 403 or 404 problem and the store is unchanged. The positive rows
// show the same caller does reach its own objects, so that the refusals
// are the scope's and not a broken route's.
func TestOrganisationIsolation(t *testing.T) {
	setupOrgs(t)
	c := newClient(t, testSrv)
	ctx := context.Background()
	vccCert := issue(t, "argus")
	akmeCert := issueSigning(t)
	vccKID, _, err := acme.CreateEABKey(ctx, testStore, "", "argus", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	vccUser := "u" + uniq()
	if err := est.AddUser(ctx, testStore, "", "argus", vccUser, "a-long-password-1", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	certCount := func() int {
		cs, err := testStore.Certificates(ctx, store.CertFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	tests := []struct {
		name    string
		who     string
		method  string
		path    string
		body    any
		status  int
		problem string
	}{
		{"read another organisation's certificate", akmeAdmin, "GET", "/certificates/" + vccCert, nil, 404, ProbNotFound},
		{"revoke another organisation's certificate", akmeAdmin, "POST", "/certificates/" + vccCert + "/revoke", RevokeRequest{Reason: "keyCompromise"}, 404, ProbNotFound},
		{"issue under another organisation's profile", akmeAdmin, "POST", "/certificates", IssueRequest{Profile: "argus", CSR: newCSR(t, "x"+uniq()+".argus.vcc.internal")}, 403, ProbForbidden},
		{"create a credential for another organisation", akmeAdmin, "POST", "/credentials/eab", map[string]string{"service": "argus"}, 403, ProbForbidden},
		{"create an EST user for another organisation", akmeAdmin, "POST", "/credentials/est-users", map[string]string{"service": "argus", "user": "u" + uniq()}, 403, ProbForbidden},
		{"withdraw another organisation's EAB key", akmeAdmin, "DELETE", "/credentials/eab/" + vccKID, nil, 404, ProbNotFound},
		{"withdraw another organisation's EST user", akmeAdmin, "DELETE", "/credentials/est-users/" + vccUser, nil, 404, ProbNotFound},
		{"read another organisation's service", akmeAdmin, "GET", "/fleet/services/argus", nil, 404, ProbNotFound},
		{"read another organisation's profile", akmeAdmin, "GET", "/profiles/argus", nil, 404, ProbNotFound},
		{"revoke all of a profile (dual control)", akmeAdmin, "POST", "/certificates/revoke-all", RevokeAllRequest{Profile: "argus", Reason: "superseded"}, 403, ProbForbidden},
		{"verify the whole audit chain", akmeAuditor, "GET", "/audit/verify", nil, 403, ProbForbidden},
		{"read another partner's certificate", bravoAdmin, "GET", "/certificates/" + akmeCert, nil, 404, ProbNotFound},
		{"revoke another partner's certificate", bravoAdmin, "POST", "/certificates/" + akmeCert + "/revoke", RevokeRequest{Reason: "keyCompromise"}, 404, ProbNotFound},
		{"read another organisation's CA", akmeAdmin, "GET", "/cas/services", nil, 404, ProbNotFound},
		{"read another partner's CA", bravoAdmin, "GET", "/cas/" + ca.CodeSigningCA, nil, 404, ProbNotFound},
		// Positive controls: the same callers reach their own.
		{"own CA", akmeAdmin, "GET", "/cas/" + ca.CodeSigningCA, nil, 200, ""},
		{"the root above it", akmeAdmin, "GET", "/cas/root", nil, 200, ""},
		{"own certificate", akmeAdmin, "GET", "/certificates/" + akmeCert, nil, 200, ""},
		{"operator reads a partner's certificate", admin, "GET", "/certificates/" + akmeCert, nil, 200, ""},
	}
	before := certCount()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.who, tc.method, tc.path, tc.body)
			if r.StatusCode != tc.status {
				t.Fatalf("%s %s: %d %s; want %d", tc.method, tc.path, r.StatusCode, r.body, tc.status)
			}
			if tc.problem != "" && r.problem(t).Type != ProblemBase+tc.problem {
				t.Errorf("problem %s; want %s", r.problem(t).Type, tc.problem)
			}
		})
	}
	// Nothing changed: no certificate issued or revoked, both credentials there.
	if n := certCount(); n != before {
		t.Errorf("%d certificates after the refusals; want %d", n, before)
	}
	for _, serial := range []string{vccCert, akmeCert} {
		if rec, err := testStore.Certificate(ctx, serial); err != nil || !rec.RevokedAt.IsZero() {
			t.Errorf("certificate %s: %v, revoked at %v; want unrevoked", serial, err, rec.RevokedAt)
		}
	}
	if _, err := testStore.EABKey(ctx, vccKID); err != nil {
		t.Errorf("the operator's EAB key: %v; want it kept", err)
	}
	if _, err := testStore.ESTUser(ctx, vccUser); err != nil {
		t.Errorf("the operator's EST user: %v; want it kept", err)
	}

	t.Run("listings hold only the caller's organisation", func(t *testing.T) {
		var certs Page[Certificate]
		c.do(akmeAdmin, "GET", "/certificates?limit=1000", nil).decode(t, &certs)
		var serials []string
		for _, v := range certs.Items {
			serials = append(serials, v.Serial)
		}
		if !slices.Contains(serials, akmeCert) || slices.Contains(serials, vccCert) {
			t.Errorf("akme's certificates hold %d; want its own %s and not the operator's %s", len(serials), akmeCert, vccCert)
		}
		c.do(bravoAdmin, "GET", "/certificates?limit=1000", nil).decode(t, &certs)
		if len(certs.Items) != 0 {
			t.Errorf("bravo (no CA) lists %d certificates; want none", len(certs.Items))
		}
		var eab Page[EABKey]
		c.do(akmeAdmin, "GET", "/credentials/eab", nil).decode(t, &eab)
		if len(eab.Items) != 0 {
			t.Errorf("akme lists %d EAB keys; want none of the operator's", len(eab.Items))
		}
		var users Page[ESTUser]
		c.do(akmeAdmin, "GET", "/credentials/est-users", nil).decode(t, &users)
		if len(users.Items) != 0 {
			t.Errorf("akme lists %d EST users; want none", len(users.Items))
		}
		var svcs Page[Service]
		c.do(akmeAdmin, "GET", "/fleet/services", nil).decode(t, &svcs)
		if len(svcs.Items) != 0 {
			t.Errorf("akme lists %d services; want none", len(svcs.Items))
		}
		var audit Page[AuditEntry]
		c.do(akmeAuditor, "GET", "/audit?limit=1000", nil).decode(t, &audit)
		if len(audit.Items) == 0 {
			t.Fatal("akme's auditor reads no entry; want akme's own")
		}
		for _, e := range audit.Items {
			if e.Org != "akme" {
				t.Errorf("akme's auditor reads entry %d of organisation %q", e.Seq, e.Org)
			}
			if e.Action == "issue" && e.Object == vccCert || e.Object == "akme" && e.Action == "org.create" {
				t.Errorf("akme's auditor reads entry %d (%s %s) of another organisation", e.Seq, e.Action, e.Object)
			}
		}
		var all Page[AuditEntry]
		c.do(auditor, "GET", "/audit?limit=1000&action=org.test", nil).decode(t, &all)
		if len(all.Items) == 0 || all.Items[0].Org != "akme" {
			t.Errorf("the operator's auditor reads %+v; want akme's entry, marked as akme's", all.Items)
		}
		c.do(akmeAuditor, "GET", "/audit?limit=1000&org=vcc", nil).decode(t, &all)
		if len(all.Items) == 0 || all.Items[0].Org != "akme" {
			t.Errorf("akme's auditor asking for the operator's entries reads %+v; want its own only", all.Items)
		}
	})
}

// TestOrganisationAddCA: POST /organisations/{name}/cas gives an
// organisation an issuing CA (audited, idempotent for its owner), and
// refuses an unknown organisation or CA (404), a CA another organisation
// owns (409), a certificate that is not an issuing CA (400) and a
// partner's pki_admin (403).
func TestOrganisationAddCA(t *testing.T) {
	setupOrgs(t)
	c := newClient(t, testSrv)
	ctx := context.Background()
	name, caName := "o"+uniq(), "part-"+uniq()
	if r := c.do(admin, "POST", "/organisations", CreateOrganisationRequest{Name: name, Display: "Partner"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	if _, err := testEngine.CreateCA(ctx, ca.CreateCARequest{Name: caName, Parent: "root"}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, who, org, ca string
		status             int
		typ                string
	}{
		{"unknown organisation", admin, "nope" + uniq(), caName, 404, ProbNotFound},
		{"unknown CA", admin, name, "nope", 404, ProbNotFound},
		{"another organisation's CA", admin, name, ca.CodeSigningCA, 409, ProbConflict},
		{"not an issuing CA", admin, name, ca.OCSPResponderName(caName), 400, ProbMalformed},
		{"a partner's pki_admin", akmeAdmin, name, caName, 403, ProbForbidden},
		{"the operator's pki_admin", admin, name, caName, 200, ""},
		{"again", admin2, name, caName, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.who, "POST", "/organisations/"+tc.org+"/cas", AddOrganisationCARequest{CA: tc.ca})
			if r.StatusCode != tc.status {
				t.Fatalf("%d %s; want %d", r.StatusCode, r.body, tc.status)
			}
			if tc.typ != "" {
				if p := r.problem(t); p.Type != ProblemBase+tc.typ {
					t.Fatalf("problem %s; want %s", p.Type, tc.typ)
				}
				return
			}
			var o Organisation
			if r.decode(t, &o); o.Name != name || !slices.Equal(o.CAs, []string{caName}) {
				t.Fatalf("organisation %+v", o)
			}
		})
	}
	var evs []store.AuditEntry
	for _, e := range auditEntries(t, name+" "+caName) {
		if e.Action == "org.add-ca" {
			evs = append(evs, e)
		}
	}
	if len(evs) != 2 || evs[0].Actor == "" || evs[0].Org != name || evs[0].Actor == evs[1].Actor {
		t.Fatalf("audit of org.add-ca: %s", actions(evs))
	}
}
