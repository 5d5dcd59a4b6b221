package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/vcc/vccpki/internal/testpki"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
)

func TestAPIAuthConfig(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		oidc, mtls       bool
	}{
		{"nothing configured", "", "", false, false},
		{"oidc and mtls", "api:\n  auth:\n    oidc: {issuer: 'https://idp.test/realms/vcc', audience: vccpki-api, roles_claim: keycloak-client, client_id: vccpki}\n    mtls: true\n", "", true, true},
		{"a dotted roles path", "api:\n  auth:\n    oidc: {issuer: 'https://idp.test', audience: a, roles_claim: ext.roles, algorithms: [ES256]}\n", "", true, false},
		{"HS256", "api:\n  auth:\n    oidc: {issuer: 'https://idp.test', audience: a, algorithms: [HS256]}\n", `"HS256" is not allowed`, false, false},
		{"no audience", "api:\n  auth:\n    oidc: {issuer: 'https://idp.test'}\n", "audience is required", false, false},
		{"keycloak-client without client_id", "api:\n  auth:\n    oidc: {issuer: 'https://idp.test', audience: a, roles_claim: keycloak-client}\n", "needs client_id", false, false},
		{"an unknown field", "api:\n  auth:\n    oidc: {issuer: 'https://idp.test', audience: a, secret: x}\n", "secret", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(testConfig(t, tc.body))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c.apiAuth.oidc != nil) != tc.oidc || c.apiAuth.mtls != tc.mtls {
				t.Fatalf("api.auth %+v", c.apiAuth)
			}
		})
	}
}

// apiAuthenticator builds the chain the configuration names; with mTLS
// it accepts no certificate of another CA of the hierarchy.
func TestAPIAuthenticator(t *testing.T) {
	t.Setenv("VCCPKI_KEK_PASSPHRASE", "cmd test passphrase, long enough")
	t.Setenv("VCCPKI_CONFIG", "")
	cfg := testConfig(t, "api:\n  auth:\n    oidc: {issuer: 'https://idp.test', audience: vccpki-api, allow_jwt_typ: true}\n    mtls: true\n")
	var out bytes.Buffer
	if err := dispatch(t.Context(), []string{"init", "--config", cfg}, &out); err != nil {
		t.Fatalf("init: %v %s", err, out.String())
	}
	if err := dispatch(t.Context(), []string{"ca", "add-admin-ca", "--config", cfg}, &out); err != nil || !strings.Contains(out.String(), "already has the Admin CA") {
		t.Fatalf("add-admin-ca on a new hierarchy: %v %s", err, out.String())
	}
	a, err := openApp(t.Context(), &commonFlags{config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	e, err := a.keylessEngine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	au, err := apiAuthenticator(t.Context(), a, e)
	if err != nil {
		t.Fatal(err)
	}
	chain, ok := au.(auth.Chain)
	if !ok || len(chain) != 2 {
		t.Fatalf("authenticator %T %v", au, au)
	}
	if _, ok := chain[0].(*auth.OIDC); !ok {
		t.Errorf("first %T, want the bearer token authenticator", chain[0])
	}
	if _, err := au.Authenticate(httptest.NewRequest("GET", "/api/v1/cas", nil)); !errors.Is(err, auth.ErrNoCredentials) {
		t.Errorf("a request without credentials: %v", err)
	}

	// Client certificates issued by this CA, presented to the chain.
	dir := t.TempDir()
	issue := func(profile, csr string) *x509.Certificate {
		t.Helper()
		var pemOut bytes.Buffer
		if err := dispatch(t.Context(), []string{"issue", "--config", cfg, "--profile", profile, "--csr", csr}, &pemOut); err != nil {
			t.Fatalf("issue %s: %v", profile, err)
		}
		b, _ := pem.Decode(pemOut.Bytes())
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	present := func(c *x509.Certificate) (*auth.Principal, error) {
		r := httptest.NewRequest("GET", "/api/v1/cas", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
		return au.Authenticate(r)
	}
	admin := issue("admin", testpki.RoleCSR(t, "automation-1", "pki_admin"))
	services := issue("argus", writeCSR(t, dir, "x.argus.test"))
	p, err := present(admin)
	if err != nil || p.Method != auth.MethodMTLS || p.Name != "automation-1" || !slices.Equal(p.Roles, []string{"pki_admin"}) {
		t.Fatalf("an admin certificate: %+v %v", p, err)
	}
	var ae *auth.Error
	if _, err := present(services); !errors.As(err, &ae) || ae.Status != 403 {
		t.Errorf("a Services CA certificate: %v", err)
	}
	if err := dispatch(t.Context(), []string{"revoke", "--config", cfg, "--serial", ca.FormatSerial(admin.SerialNumber), "--reason", "keyCompromise"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := present(admin); !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Detail, "revoked") {
		t.Errorf("a revoked admin certificate: %v", err)
	}
}
