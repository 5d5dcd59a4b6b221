package api

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/api/apitest"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/conformance/harness"
)

// e2e is a `vccpki serve` whose API takes bearer tokens of a Hydra and
// client certificates of its VCC Admin CA, and a client that checks every
// answer against api/openapi.json.
type e2e struct {
	t     *testing.T
	srv   *harness.Server
	base  string // https://127.0.0.1:PORT/api/v1
	check *apitest.Validator
	roots *x509.CertPool
}

// credential is how a call authenticates: a bearer token, a client
// certificate, or neither.
type credential struct {
	token string
	cert  *tls.Certificate
}

// e2eAnswer is one answer of the binary, read whole.
type e2eAnswer struct {
	status int
	ctype  string
	body   []byte
}

// problem decodes an RFC 9457 problem document.
func (a e2eAnswer) problem(t *testing.T) api.Problem {
	t.Helper()
	var p api.Problem
	if a.ctype != "application/problem+json" || json.Unmarshal(a.body, &p) != nil {
		t.Fatalf("not a problem document: %d %s %s", a.status, a.ctype, a.body)
	}
	return p
}

func (e *e2e) call(c credential, method, path string, body any) e2eAnswer {
	e.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	tc := &tls.Config{RootCAs: e.roots, MinVersion: tls.VersionTLS12}
	if c.cert != nil {
		cert := c.cert
		// Present the certificate whatever CAs the server names, as curl
		// --cert does.
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	// A connection per call: a TLS session is one client certificate.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, err := range e.check.Check(req, resp, got) {
		e.t.Errorf("%s %s: %d: %v\nbody: %.600s", method, path, resp.StatusCode, err, got)
	}
	return e2eAnswer{resp.StatusCode, resp.Header.Get("Content-Type"), got}
}

// auditOf returns the api.call entries of the audit log whose object
// contains object, read through the API by reader.
func (e *e2e) auditOf(reader credential, object string) []api.AuditEntry {
	e.t.Helper()
	a := e.call(reader, "GET", "/audit?action=api.call&object="+url.QueryEscape(object), nil)
	if a.status != http.StatusOK {
		e.t.Fatalf("GET /audit: %d %s", a.status, a.body)
	}
	var page api.Page[api.AuditEntry]
	if err := json.Unmarshal(a.body, &page); err != nil {
		e.t.Fatal(err)
	}
	return page.Items
}

var probeSerial atomic.Int64

// refusal is a call that must be refused with status, a problem document
// naming detail, and one audit entry: actor, the status and detail.
func (e *e2e) refusal(reader, c credential, status int, detail, actor string) {
	e.t.Helper()
	// A serial of its own makes the call's audit entry findable.
	path := fmt.Sprintf("/certificates/7e57%08x", probeSerial.Add(1))
	a := e.call(c, "GET", path, nil)
	if a.status != status {
		e.t.Fatalf("GET %s: %d %s, want %d", path, a.status, a.body, status)
	}
	if p := a.problem(e.t); !strings.Contains(p.Detail, detail) {
		e.t.Errorf("refusal %q does not name %q", p.Detail, detail)
	}
	if c.token != "" && strings.Contains(string(a.body), c.token) {
		e.t.Errorf("the refusal echoes the token")
	}
	entries := e.auditOf(reader, path)
	if len(entries) != 1 {
		e.t.Fatalf("audit entries of GET %s: %+v, want one", path, entries)
	}
	en := entries[0]
	want := fmt.Sprintf("refused: %d ", status)
	if en.Object != "GET /api/v1"+path || !strings.HasPrefix(en.Result, want) || !strings.Contains(en.Result, detail) ||
		!strings.Contains(en.Result, "from 127.0.0.1:") || !strings.Contains(en.Actor, actor) {
		e.t.Errorf("audit entry %+v: want actor %q and result %q... naming %q and the source address", en, actor, want, detail)
	}
	if c.token != "" && strings.Contains(en.Result, c.token) {
		e.t.Errorf("the audit log holds the token")
	}
}

// TestAPIEndToEnd drives `vccpki serve` with real credentials: access
// tokens of ORY Hydra with Keycloak-shaped roles, and client certificates
// that `vccpki issue --profile admin` made. It walks endpoints for each
// role (pki_admin, auditor, verifier, code_signer, none) over both
// authenticators, checks every answer against api/openapi.json, and
// checks that each refusal of the issue is 401 or 403 and in the audit
// log with the caller and outcome.
func TestAPIEndToEnd(t *testing.T) {
	hook := rolesHook(t, map[string][]string{
		"admin": {"pki_admin"}, "auditor": {"auditor"}, "verifier": {"verifier"}, "signer": {"code_signer"}, "short": {"auditor"},
	})
	opts := harness.HydraOptions{TokenHook: hook.URL, TopLevelClaims: []string{"realm_access", "preferred_username"}}
	idp := harness.StartHydra(t, opts)
	other := harness.StartHydra(t, opts)
	for _, id := range []string{"admin", "auditor", "verifier", "signer", "norole", "short"} {
		idp.CreateClient(t, id, id+"-secret", audience, "other-api")
	}
	idp.SetAccessTokenLifespan(t, "short", "1s")
	other.CreateClient(t, "admin", "admin-secret", audience)

	cfg, data := harness.Config(t, fmt.Sprintf(`api:
  rate: {burst: 100000, every: 1ms}
  auth:
    oidc:
      issuer: %s
      audience: %s
      algorithms: [RS256]
      allow_jwt_typ: true
    mtls: true
`, idp.Issuer, audience))
	if _, errOut, code := harness.Run(t, "init", "--config", cfg); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	// Client certificates of the Admin CA, one revoked, and one of the
	// Services CA; a certificate for the API to revoke.
	ops := issueClientCert(t, cfg, "admin", "automation-ops", nil, "pki_admin", "auditor")
	mAuditor := issueClientCert(t, cfg, "admin", "automation-audit", nil, "auditor")
	// The admin profile refuses a certificate without a role: "none" is
	// a token's alone.
	mVerifier := issueClientCert(t, cfg, "admin", "automation-verify", nil, "verifier")
	revoked := issueClientCert(t, cfg, "admin", "automation-revoked", nil, "pki_admin")
	services := issueClientCert(t, cfg, "default", "svc.test", []string{"svc.test"})
	victim := issueClientCert(t, cfg, "default", "victim.test", []string{"victim.test"})
	if _, errOut, code := harness.Run(t, "revoke", "--config", cfg, "--serial", ca.FormatSerial(revoked.leaf.SerialNumber), "--reason", "keyCompromise"); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}

	srv := harness.StartServer(t, cfg)
	rootPEM, err := os.ReadFile(filepath.Join(data, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	base := srv.HTTPSURL + api.Prefix
	check, err := apitest.New(api.Document, base)
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, srv: srv, base: base, check: check, roots: roots}

	tok := func(id string) credential { return credential{token: idp.Token(t, id, id+"-secret", audience)} }
	reader := credential{cert: &ops.tls} // pki_admin and auditor
	certSerial := ca.FormatSerial(victim.leaf.SerialNumber)

	// Each role over each authenticator: who may do what.
	type step struct {
		method, path string
		body         any
		allowed      []string // roles that may; the others get 403
		okStatus     int
	}
	steps := []step{
		{"GET", "/profiles", nil, []string{"pki_admin", "auditor", "verifier", "code_signer"}, 200},
		{"GET", "/cas", nil, []string{"pki_admin", "auditor"}, 200},
		{"GET", "/cas/services", nil, []string{"pki_admin", "auditor"}, 200},
		{"GET", "/certificates?limit=5&status=valid", nil, []string{"pki_admin", "auditor", "verifier"}, 200},
		{"GET", "/certificates/" + certSerial, nil, []string{"pki_admin", "auditor", "verifier"}, 200},
		{"GET", "/credentials/eab", nil, []string{"pki_admin"}, 200},
		{"GET", "/audit?limit=3", nil, []string{"auditor"}, 200},
		{"GET", "/audit/verify", nil, []string{"pki_admin", "auditor"}, 200},
	}
	callers := []struct {
		name string
		role string
		cred func() credential
	}{
		{"oidc pki_admin", "pki_admin", func() credential { return tok("admin") }},
		{"oidc auditor", "auditor", func() credential { return tok("auditor") }},
		{"oidc verifier", "verifier", func() credential { return tok("verifier") }},
		{"oidc code_signer", "code_signer", func() credential { return tok("signer") }},
		{"oidc no role", "", func() credential { return tok("norole") }},
		{"mtls auditor", "auditor", func() credential { return credential{cert: &mAuditor.tls} }},
		{"mtls verifier", "verifier", func() credential { return credential{cert: &mVerifier.tls} }},
	}
	for _, who := range callers {
		t.Run("roles/"+who.name, func(t *testing.T) {
			e.t = t
			c := who.cred()
			for _, s := range steps {
				want := http.StatusForbidden
				for _, r := range s.allowed {
					if r == who.role {
						want = s.okStatus
					}
				}
				a := e.call(c, s.method, s.path, s.body)
				if a.status != want {
					t.Errorf("%s %s as %s: %d %.300s, want %d", s.method, s.path, who.name, a.status, a.body, want)
				}
				if want == http.StatusForbidden && a.status == want {
					if p := a.problem(t); p.Type == "" || !strings.Contains(p.Detail, "permission") {
						t.Errorf("403 without naming the permission: %+v", p)
					}
				}
			}
			// Revocation needs cert:revoke, which only pki_admin has (the
			// Admin CA's pki_admin revokes below).
			if who.role == "pki_admin" {
				return
			}
			a := e.call(c, "POST", "/certificates/"+certSerial+"/revoke", api.RevokeRequest{Reason: "superseded"})
			if a.status != http.StatusForbidden {
				t.Errorf("revoke as %s: %d %.300s, want 403", who.name, a.status, a.body)
			}
		})
	}
	e.t = t
	t.Run("roles/mtls pki_admin revokes", func(t *testing.T) {
		e.t = t
		a := e.call(reader, "POST", "/certificates/"+certSerial+"/revoke", api.RevokeRequest{Reason: "superseded"})
		var got api.Certificate
		if a.status != http.StatusOK || json.Unmarshal(a.body, &got) != nil || got.Status != "revoked" {
			t.Fatalf("revoke: %d %s", a.status, a.body)
		}
		entries := e.auditOf(reader, "/certificates/"+certSerial+"/revoke")
		var okBy []string
		for _, en := range entries {
			if strings.HasPrefix(en.Result, "ok: 200") {
				okBy = append(okBy, en.Actor)
			}
		}
		if len(okBy) != 1 || !strings.Contains(okBy[0], "automation-ops") || !strings.Contains(okBy[0], "serial "+ops.leaf.SerialNumber.Text(16)) {
			t.Errorf("the revocation's audit entries: %+v", entries)
		}
	})

	// The refusals of the issue: each 401 or 403, a problem document, and
	// in the audit log with the caller (the principal where there is one;
	// an unauthenticated caller is its source address) and the outcome.
	refusals := []struct {
		name   string
		cred   func() credential
		status int
		detail string
		actor  string
	}{
		{"no credential", func() credential { return credential{} }, 401, "", "anonymous"},
		{"a token from another issuer", func() credential {
			return credential{token: other.Token(t, "admin", "admin-secret", audience)}
		}, 401, "issuer", "anonymous"},
		{"a token for another audience", func() credential {
			return credential{token: idp.Token(t, "admin", "admin-secret", "other-api")}
		}, 401, "audience", "anonymous"},
		{"a role missing", func() credential { return tok("norole") }, 403, "permission cert:read", "norole"},
		{"a revoked Admin CA certificate", func() credential { return credential{cert: &revoked.tls} }, 401, "revoked", "anonymous"},
		{"a Services CA certificate", func() credential { return credential{cert: &services.tls} }, 403, "VCC Services CA", "anonymous"},
	}
	for _, tc := range refusals {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			e.t = t
			e.refusal(reader, tc.cred(), tc.status, tc.detail, tc.actor)
		})
	}
	t.Run("refused/an expired token", func(t *testing.T) {
		e.t = t
		c := tok("short")
		// The token lives 1s; the server allows 30s of clock skew.
		harness.Eventually(t, 2*time.Minute, "the 1s token refused", func() bool {
			return e.call(c, "GET", "/profiles", nil).status == http.StatusUnauthorized
		})
		e.refusal(reader, c, 401, "expired", "anonymous")
	})
	t.Run("refused/a key that rotated", func(t *testing.T) {
		e.t = t
		old := tok("auditor")
		if a := e.call(old, "GET", "/profiles", nil); a.status != http.StatusOK {
			t.Fatalf("before rotation: %d %s", a.status, a.body)
		}
		idp.RotateAccessTokenKey(t, "rotated-1")
		fresh := tok("auditor")
		// The new kid makes the server fetch the provider's keys again; that
		// fetch withdrew the old key: the very next request with it is
		// refused, and audited as such.
		if a := e.call(fresh, "GET", "/profiles", nil); a.status != http.StatusOK {
			t.Fatalf("a token of the new key: %d %s", a.status, a.body)
		}
		e.refusal(reader, old, 401, "signature", "anonymous")
	})
	t.Run("refused/an alg outside the list", func(t *testing.T) {
		e.t = t
		// The server allows RS256 only; the provider now signs with ES256.
		idp.RotateAccessTokenKeyAlg(t, "rotated-es256", "ES256")
		e.refusal(reader, tok("auditor"), 401, `algorithm "ES256"`, "anonymous")
	})
	e.t = t

	// The chain the calls wrote verifies.
	var v api.AuditVerification
	if a := e.call(reader, "GET", "/audit/verify", nil); a.status != 200 || json.Unmarshal(a.body, &v) != nil || !v.OK {
		t.Errorf("GET /audit/verify: %d %s", a.status, a.body)
	}
}
