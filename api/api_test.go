package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// lastCall returns the newest api.call audit entry.
func lastCall(t *testing.T) store.AuditEntry {
	t.Helper()
	var last store.AuditEntry
	err := testStore.WalkAudit(context.Background(), func(e store.AuditEntry) error {
		if e.Action == "api.call" {
			last = e
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// TestEveryCallAudited: accepted and refused calls alike leave an entry
// with the caller, the source address, the target and the outcome.
func TestEveryCallAudited(t *testing.T) {
	c := newClient(t, testSrv)
	tests := []struct {
		name, who, method, path string
		actor, result           string
	}{
		{"accepted", auditor, "GET", "/profiles", "oidc:sub-erin (erin)", "ok: 200 from 127.0.0.1:"},
		{"no credentials", "", "GET", "/certificates", "anonymous", "refused: 401 unauthorized from 127.0.0.1:"},
		{"bad credentials", "!bad", "GET", "/certificates", "anonymous", "refused: 401 unauthorized from 127.0.0.1:"},
		{"forbidden", verif, "GET", "/audit", "oidc:sub-dave (dave)", "refused: 403 forbidden from 127.0.0.1:"},
		{"not found", admin, "GET", "/cas/nope", "oidc:sub-alice (alice)", "refused: 404 not-found from 127.0.0.1:"},
		{"no such endpoint", admin, "GET", "/nothing/here", "oidc:sub-alice (alice)", "refused: 404 not-found from 127.0.0.1:"},
		{"preflight", "", "OPTIONS", "/cas", "anonymous", "refused: 405 method-not-allowed from 127.0.0.1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.do(tc.who, tc.method, tc.path, nil)
			e := lastCall(t)
			if e.Actor != tc.actor || e.Object != tc.method+" "+Prefix+tc.path || !strings.HasPrefix(e.Result, tc.result) {
				t.Errorf("audit entry %s | %s | %s; want %s | %s %s | %s...", e.Actor, e.Object, e.Result, tc.actor, tc.method, Prefix+tc.path, tc.result)
			}
		})
	}
}

// TestSecretsShownOnce: an EAB key's HMAC and an EST user's password are
// in the 201 answer and nowhere after: not in listings, not in the audit
// log.
func TestSecretsShownOnce(t *testing.T) {
	c := newClient(t, testSrv)
	r := c.do(admin, "POST", "/credentials/eab", map[string]string{"service": "argus"})
	var key NewEABKey
	r.decode(t, &key)
	r2 := c.do(admin, "POST", "/credentials/est-users", map[string]string{"service": "argus", "user": "s" + uniq()})
	var user NewESTUser
	r2.decode(t, &user)
	if r.StatusCode != 201 || r2.StatusCode != 201 || key.HMAC == "" || len(user.Password) < 12 {
		t.Fatalf("creating: %d %s / %d %s", r.StatusCode, r.body, r2.StatusCode, r2.body)
	}
	lists := append(c.do(admin, "GET", "/credentials/eab", nil).body, c.do(admin, "GET", "/credentials/est-users", nil).body...)
	var export bytes.Buffer
	export.Write(c.do(auditor, "GET", "/audit/export", nil).body)
	for _, secret := range []string{key.HMAC, user.Password} {
		if bytes.Contains(lists, []byte(secret)) {
			t.Errorf("a listing shows a secret")
		}
		if bytes.Contains(export.Bytes(), []byte(secret)) {
			t.Errorf("the audit log holds a secret")
		}
	}
	if !strings.Contains(string(lists), key.KID) || !strings.Contains(string(lists), user.User) {
		t.Errorf("listings lack the new credentials: %s", lists)
	}
}

// TestRateLimit: past its burst an identity gets 429 with Retry-After and
// a problem; another identity is not affected.
func TestRateLimit(t *testing.T) {
	s, err := New(Config{Engine: testEngine, Store: testStore, Authenticator: headerAuth{}, RateBurst: 2, RateEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newClient(t, srv)
	for i := range 2 {
		if r := c.do(verif, "GET", "/profiles", nil); r.StatusCode != 200 {
			t.Fatalf("call %d: %d", i+1, r.StatusCode)
		}
	}
	r := c.do(verif, "GET", "/profiles", nil)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || r.problem(t).Type != ProblemBase+ProbRateLimited {
		t.Errorf("third call: %d Retry-After %q %s, want 429", r.StatusCode, r.Header.Get("Retry-After"), r.body)
	}
	if r := c.do(auditor, "GET", "/profiles", nil); r.StatusCode != 200 {
		t.Errorf("another identity: %d, want 200", r.StatusCode)
	}
}

// TestCertificates: issue through the API (201, PEM and chain, renewal
// window), find it by serial, name and profile, page through a listing
// with cursors, revoke it.
func TestCertificates(t *testing.T) {
	c := newClient(t, testSrv)
	name := "api" + uniq() + ".test"
	r := c.do(admin, "POST", "/certificates", IssueRequest{Profile: "default", CSR: newCSR(t, name)})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("issue: %d %s", r.StatusCode, r.body)
	}
	var got Certificate
	r.decode(t, &got)
	block, _ := pem.Decode([]byte(got.Certificate))
	if block == nil {
		t.Fatalf("no PEM certificate in %s", r.body)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.DNSNames[0] != name || len(got.Chain) != 1 || got.RenewalWindow == nil ||
		!got.RenewalWindow.Start.Before(got.RenewalWindow.End) || got.Status != "valid" {
		t.Fatalf("issued %+v (%v)", got, err)
	}
	if loc := r.Header.Get("Location"); loc != Prefix+"/certificates/"+got.Serial {
		t.Errorf("Location %q", loc)
	}
	for _, q := range []string{"serial=" + got.Serial, "name=" + name, "profile=default&name=" + name, "status=valid&name=" + name} {
		var page Page[Certificate]
		c.do(verif, "GET", "/certificates?"+q, nil).decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].Serial != got.Serial {
			t.Errorf("?%s: %+v, want the one certificate", q, page.Items)
		}
	}
	var none Page[Certificate]
	c.do(verif, "GET", "/certificates?status=revoked&name="+name, nil).decode(t, &none)
	if len(none.Items) != 0 {
		t.Errorf("status=revoked finds the valid certificate")
	}

	// Paging: 5 certificates of one name, 2 a page.
	tag := "page" + uniq()
	want := map[string]bool{}
	for range 5 {
		r := c.do(admin, "POST", "/certificates", IssueRequest{Profile: "default", CSR: newCSR(t, tag+uniq()+".test")})
		var v Certificate
		r.decode(t, &v)
		want[v.Serial] = true
	}
	seen, pages, cur := map[string]bool{}, 0, ""
	for {
		var page Page[Certificate]
		c.do(verif, "GET", "/certificates?limit=2&name="+tag+"&cursor="+cur, nil).decode(t, &page)
		pages++
		for _, v := range page.Items {
			if seen[v.Serial] {
				t.Errorf("%s listed twice", v.Serial)
			}
			seen[v.Serial] = true
		}
		if page.Next == "" || pages > 5 {
			break
		}
		cur = page.Next
	}
	if len(seen) != 5 || pages != 3 {
		t.Errorf("paged %d certificates in %d pages, want 5 in 3", len(seen), pages)
	}
	for s := range want {
		if !seen[s] {
			t.Errorf("%s not listed", s)
		}
	}

	r = c.do(admin, "POST", "/certificates/"+got.Serial+"/revoke", RevokeRequest{Reason: "keyCompromise"})
	var rev Certificate
	r.decode(t, &rev)
	if r.StatusCode != 200 || rev.Status != "revoked" || rev.RevocationReason != "keyCompromise" || rev.RevokedAt == nil {
		t.Errorf("revoke: %d %+v", r.StatusCode, rev)
	}
}

// TestReadEndpoints: the CA hierarchy with its CRL, profiles, fleet
// findings after a discovery, audit verification and export.
func TestReadEndpoints(t *testing.T) {
	c := newClient(t, testSrv)
	var ca CA
	c.do(auditor, "GET", "/cas/services", nil).decode(t, &ca)
	if ca.Role != "intermediate" || ca.Parent != "root" || !strings.Contains(ca.Certificate, "BEGIN CERTIFICATE") || ca.CRL == "" {
		t.Errorf("services CA: %+v", ca)
	}
	r := c.do(auditor, "GET", "/cas/services/crl", nil)
	if crl, err := x509.ParseRevocationList(r.body); err != nil || r.Header.Get("Content-Type") != "application/pkix-crl" || crl.Issuer.CommonName != "VCC Services CA" {
		t.Errorf("CRL: %v %s", err, r.Header.Get("Content-Type"))
	}
	var cas Page[CA]
	c.do(auditor, "GET", "/cas?role=intermediate", nil).decode(t, &cas)
	if len(cas.Items) != 3 {
		t.Errorf("intermediates (services, code-signing, admin): %+v", cas.Items)
	}
	var profiles Page[Profile]
	c.do(signer, "GET", "/profiles?limit=3", nil).decode(t, &profiles)
	if len(profiles.Items) != 3 || profiles.Next == "" {
		t.Errorf("profiles page: %d items, next %q", len(profiles.Items), profiles.Next)
	}

	var rep struct {
		Services []struct {
			Name      string
			Endpoints []struct{ Reachable bool }
		}
	}
	c.do(admin, "POST", "/fleet/discoveries", nil).decode(t, &rep)
	if len(rep.Services) != 2 || rep.Services[0].Endpoints[0].Reachable {
		t.Errorf("discovery: %+v", rep)
	}
	var svc Service
	c.do(admin, "GET", "/fleet/services/argus", nil).decode(t, &svc)
	if svc.DiscoveredAt == nil || svc.Endpoints[0].Finding == nil || svc.Endpoints[0].Finding.Reachable || svc.Covered == nil || *svc.Covered {
		t.Errorf("argus after discovery: %+v", svc)
	}

	var v AuditVerification
	c.do(auditor, "GET", "/audit/verify", nil).decode(t, &v)
	if !v.OK || v.Entries == 0 {
		t.Errorf("verify: %+v", v)
	}
	var anchored AuditVerification
	c.do(auditor, "GET", "/audit/verify?anchor="+v.Head, nil).decode(t, &anchored)
	if !anchored.OK {
		t.Errorf("verify against its own head: %+v", anchored)
	}
	r = c.do(auditor, "GET", "/audit/export?action=api.call&actor=anonymous", nil)
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	n := 0
	for sc.Scan() {
		var e AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action != "api.call" || e.Actor != "anonymous" {
			t.Errorf("export line %q: %v", sc.Text(), err)
		}
		n++
	}
	if n == 0 || r.Header.Get("Content-Type") != "application/jsonl" {
		t.Errorf("export: %d lines, %s", n, r.Header.Get("Content-Type"))
	}
	var page Page[AuditEntry]
	c.do(auditor, "GET", "/audit?action=api.call&limit=2", nil).decode(t, &page)
	var next Page[AuditEntry]
	c.do(auditor, "GET", "/audit?action=api.call&limit=2&cursor="+page.Next, nil).decode(t, &next)
	if len(page.Items) != 2 || len(next.Items) != 2 || next.Items[0].Seq <= page.Items[1].Seq {
		t.Errorf("audit pages: %+v then %+v", page.Items, next.Items)
	}
}
