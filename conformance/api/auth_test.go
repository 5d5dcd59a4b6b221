// Package api tests who may call the management API with real parts: ORY
// Hydra as the OpenID provider, client certificates issued by the vccpki
// binary. The API's handlers live on another branch; here the
// authenticators are wrapped in an HTTPS handler of the test.
package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/internal/testpki"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/store/sqlite"
)

const audience = "vccpki-api"

// answer is what the test's API handler says: the principal, or the
// refusal.
type answer struct {
	Status    int
	Principal *auth.Principal
	Detail    string
}

// authServer is an HTTPS server whose handler authenticates with a and
// answers the principal as JSON, or the refusal's status and detail.
func authServer(t *testing.T, a auth.Authenticator, clientCAs ...*x509.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		var ae *auth.Error
		w.Header().Set("Content-Type", "application/json")
		switch {
		case err == nil:
			_ = json.NewEncoder(w).Encode(p)
		case errors.As(err, &ae):
			w.WriteHeader(ae.Status)
			_ = json.NewEncoder(w).Encode(map[string]string{"detail": ae.Detail})
		case errors.Is(err, auth.ErrNoCredentials):
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"detail": "no credentials"})
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	auth.RequestClientCerts(srv.TLS, clientCAs...)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func ask(t *testing.T, c *http.Client, u, token string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u+"/api/v1/certificates", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		a.Principal = &auth.Principal{}
		if err := json.Unmarshal(b, a.Principal); err != nil {
			t.Fatal(err)
		}
	} else {
		var d struct{ Detail string }
		_ = json.Unmarshal(b, &d)
		a.Detail = d.Detail
	}
	return a
}

// rolesHook is Hydra's token hook: it gives each client Keycloak-shaped
// claims (realm_access.roles, preferred_username); a client without roles
// gets no role claim.
func rolesHook(t *testing.T, roles map[string][]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Request struct {
				ClientID string `json:"client_id"`
			} `json:"request"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		claims := map[string]any{"preferred_username": req.Request.ClientID}
		if rs, ok := roles[req.Request.ClientID]; ok {
			claims["realm_access"] = map[string]any{"roles": rs}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"session": map[string]any{"access_token": claims}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestOIDCTokensFromHydra: access tokens of a real OpenID provider,
// accepted with their roles, and refused 401 when from another issuer,
// expired, for another audience, signed with an algorithm outside the
// list, or signed with a key the provider withdrew.
func TestOIDCTokensFromHydra(t *testing.T) {
	hook := rolesHook(t, map[string][]string{"ops": {"pki_admin", "offline_access"}, "short": {"auditor"}})
	opts := harness.HydraOptions{TokenHook: hook.URL, TopLevelClaims: []string{"realm_access", "preferred_username"}}
	idp := harness.StartHydra(t, opts)
	other := harness.StartHydra(t, opts)
	idp.CreateClient(t, "ops", "ops-secret", audience, "other-api")
	idp.CreateClient(t, "norole", "norole-secret", audience)
	idp.CreateClient(t, "short", "short-secret", audience)
	idp.SetAccessTokenLifespan(t, "short", "1s")
	other.CreateClient(t, "ops", "ops-secret", audience)

	// Hydra v2.3 writes typ "JWT", not RFC 9068's "at+jwt", into its access
	// tokens and has no setting for it: a strict authenticator refuses
	// them, hence allow_jwt_typ.
	strict, err := auth.NewOIDC(auth.OIDCConfig{Issuer: idp.Issuer, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	srvStrict := authServer(t, strict)
	if a := ask(t, srvStrict.Client(), srvStrict.URL, idp.Token(t, "ops", "ops-secret", audience)); a.Status != 401 || !strings.Contains(a.Detail, "typ") {
		t.Fatalf("a Hydra token without allow_jwt_typ: %+v", a)
	}

	lenient := func(algs ...string) *httptest.Server {
		o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: idp.Issuer, Audience: audience, AllowJWTTyp: true, Algorithms: algs, Leeway: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return authServer(t, o)
	}
	srv, es256Only := lenient(), lenient("ES256")
	for _, tc := range []struct {
		name      string
		srv       *httptest.Server
		token     string
		wantRoles []string
		wantName  string
		refusal   string
	}{
		{"a good token", srv, idp.Token(t, "ops", "ops-secret", audience), []string{"pki_admin", "offline_access"}, "ops", ""},
		{"a token without the roles claim", srv, idp.Token(t, "norole", "norole-secret", audience), nil, "norole", ""},
		{"a token for another audience", srv, idp.Token(t, "ops", "ops-secret", "other-api"), nil, "", "audience"},
		{"a token from another issuer", srv, other.Token(t, "ops", "ops-secret", audience), nil, "", "unknown issuer"},
		{"RS256 outside the list", es256Only, idp.Token(t, "ops", "ops-secret", audience), nil, "", `algorithm "RS256"`},
		{"no token", srv, "", nil, "", "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ask(t, tc.srv.Client(), tc.srv.URL, tc.token)
			if tc.refusal != "" {
				if a.Status != http.StatusUnauthorized || !strings.Contains(a.Detail, tc.refusal) {
					t.Fatalf("got %+v, want 401 naming %q", a, tc.refusal)
				}
				if tc.token != "" && strings.Contains(a.Detail, tc.token) {
					t.Errorf("the refusal echoes the token")
				}
				return
			}
			if a.Status != http.StatusOK {
				t.Fatalf("refused: %+v", a)
			}
			p := a.Principal
			if p.Method != auth.MethodOIDC || p.Issuer != idp.Issuer || p.Subject != tc.wantName || p.Name != tc.wantName || !slices.Equal(p.Roles, tc.wantRoles) {
				t.Errorf("principal %+v, want roles %v", p, tc.wantRoles)
			}
		})
	}

	t.Run("an expired token", func(t *testing.T) {
		tok := idp.Token(t, "short", "short-secret", audience)
		harness.Eventually(t, time.Minute, "the 1s token refused as expired", func() bool {
			a := ask(t, srv.Client(), srv.URL, tok)
			return a.Status == http.StatusUnauthorized && strings.Contains(a.Detail, "expired")
		})
	})

	t.Run("a key that rotated", func(t *testing.T) {
		old := idp.Token(t, "ops", "ops-secret", audience)
		if a := ask(t, srv.Client(), srv.URL, old); a.Status != http.StatusOK {
			t.Fatalf("before rotation: %+v", a)
		}
		idp.RotateAccessTokenKey(t, "rotated-1")
		fresh := idp.Token(t, "ops", "ops-secret", audience)
		// The new kid makes the authenticator fetch the JWKS again; the
		// fetch withdrew the old key, so the very next request with it is
		// refused (auth.KeySet replaces its keys before answering).
		if a := ask(t, srv.Client(), srv.URL, fresh); a.Status != http.StatusOK {
			t.Fatalf("a token of the new key: %+v", a)
		}
		if a := ask(t, srv.Client(), srv.URL, old); a.Status != http.StatusUnauthorized || !strings.Contains(a.Detail, "signature") {
			t.Fatalf("a token of the withdrawn key, on the next request: %+v", a)
		}
	})
}

// clientCert is a key and the certificate the binary issued for it.
type clientCert struct {
	tls  tls.Certificate
	leaf *x509.Certificate
}

// issueClientCert has `vccpki issue` sign a CSR for a new key.
func issueClientCert(t *testing.T, cfg, profileName, cn string, dns []string, roles ...string) clientCert {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
	for _, r := range roles {
		u, _ := url.Parse(auth.RoleURI(r))
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(t.TempDir(), "req.csr")
	if err := os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", profileName, "--csr", csr)
	if code != 0 {
		t.Fatalf("issue --profile %s: %s", profileName, errOut)
	}
	certs := harness.ParsePEMCerts(t, out)
	tc := tls.Certificate{PrivateKey: k, Leaf: certs[0]}
	for _, c := range certs {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return clientCert{tc, certs[0]}
}

// TestAdminClientCertificates: client certificates of the VCC Admin CA,
// issued and revoked by the binary, over a real TLS handshake: accepted
// with the roles their URI SANs grant; a revoked one refused 401; one of
// the Services CA refused 403.
func TestAdminClientCertificates(t *testing.T) {
	cfg, data := harness.Config(t, "")
	if _, errOut, code := harness.Run(t, "init", "--config", cfg); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	good := issueClientCert(t, cfg, "admin", "automation-1", nil, "pki_admin", "auditor")
	revoked := issueClientCert(t, cfg, "admin", "automation-2", nil, "pki_admin")
	services := issueClientCert(t, cfg, "default", "svc.test", []string{"svc.test"})
	if _, errOut, code := harness.Run(t, "revoke", "--config", cfg, "--serial", ca.FormatSerial(revoked.leaf.SerialNumber), "--reason", "keyCompromise"); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	if _, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", "admin", "--csr", testpki.RoleCSR(t, "x", "root")); code == 0 || !strings.Contains(errOut, "urn:vccpki:role:root") {
		t.Errorf("an unknown role was issued or refused without naming it: %d %s", code, errOut)
	}

	// The engine of that data directory, without keys, as the server has it.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(data, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	profiles, err := profile.Load(filepath.Join(harness.RepoRoot, "configs", "profiles"), ca.IssuingCAs)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ca.StoredPublicURL(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ca.Open(ctx, st, nil, profiles, ca.Config{PublicURL: pub, Hierarchy: ca.DefaultHierarchy()}, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := auth.AdminMTLS(e)
	if err != nil {
		t.Fatal(err)
	}
	adminCA, _ := e.CACert(ca.AdminCA)
	srv := authServer(t, m, adminCA)

	for _, tc := range []struct {
		name      string
		cert      *clientCert
		wantRoles []string
		status    int
		refusal   string
	}{
		{"an Admin CA certificate", &good, []string{"pki_admin", "auditor"}, 200, ""},
		{"a revoked Admin CA certificate", &revoked, nil, 401, "revoked"},
		{"a Services CA certificate", &services, nil, 403, "VCC Services CA"},
		{"no certificate", nil, nil, 401, "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Client()
			tr := c.Transport.(*http.Transport).Clone()
			if tc.cert != nil {
				// Present the certificate whatever CAs the server names, as
				// curl --cert does.
				cert := tc.cert.tls
				tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			}
			a := ask(t, &http.Client{Transport: tr}, srv.URL, "")
			if a.Status != tc.status || (tc.refusal != "" && !strings.Contains(a.Detail, tc.refusal)) {
				t.Fatalf("got %+v, want %d %q", a, tc.status, tc.refusal)
			}
			if tc.status == 200 {
				p := a.Principal
				if p.Method != auth.MethodMTLS || p.Name != "automation-1" || p.Serial != tc.cert.leaf.SerialNumber.Text(16) || !slices.Equal(p.Roles, tc.wantRoles) {
					t.Errorf("principal %+v", p)
				}
			}
		})
	}
}

// TestServeRequestsAdminClientCertificates: with api.auth.mtls the HTTPS
// listener of the binary asks for a client certificate (without requiring
// one) and names the VCC Admin CA among the acceptable CAs.
func TestServeRequestsAdminClientCertificates(t *testing.T) {
	cfg, data := harness.Config(t, "api:\n  auth:\n    mtls: true\n")
	srv := harness.StartServer(t, cfg)
	root, err := os.ReadFile(filepath.Join(data, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	var named []string
	asked := false
	conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.HTTPSURL, "https://"), &tls.Config{
		RootCAs: pool,
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			for _, raw := range cri.AcceptableCAs {
				var n pkix.RDNSequence
				if _, err := asn1.Unmarshal(raw, &n); err == nil {
					var name pkix.Name
					name.FillFromRDNSequence(&n)
					named = append(named, name.CommonName)
				}
			}
			return &tls.Certificate{}, nil // none: the handshake must still succeed
		},
	})
	if err != nil {
		t.Fatalf("a handshake without a client certificate: %v", err)
	}
	defer conn.Close()
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	if !asked || !slices.Contains(named, "VCC Admin CA") {
		t.Fatalf("client certificate requested: %v; acceptable CAs %v", asked, named)
	}
}
