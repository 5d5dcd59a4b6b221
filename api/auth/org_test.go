package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// TestOIDCOrganisation: the org claim names the caller's organisation, as
// a plain name or a Keycloak group path /orgs/<org>; more than one, or a
// malformed one, is refused; without the setting every caller is the
// operator's.
func TestOIDCOrganisation(t *testing.T) {
	p := newIDP(t)
	rs := newSigner(t, "rsa-1", jose.RS256)
	p.publish(rs)
	now := time.Now()
	tok := func(extra map[string]any) string {
		c := map[string]any{"iss": p.srv.URL, "sub": "u-1", "aud": "vccpki-api", "exp": now.Add(time.Hour).Unix(),
			"realm_access": map[string]any{"roles": []string{"pki_admin"}}}
		for k, v := range extra {
			c[k] = v
		}
		return rs.sign(t, "at+jwt", c)
	}
	for _, tc := range []struct {
		name, claim string
		tok         string
		want        string // organisation; "!" + detail for a refusal
	}{
		{"plain claim", "org", tok(map[string]any{"org": "akme"}), "akme"},
		{"Keycloak group path", "groups", tok(map[string]any{"groups": []string{"/staff", "/orgs/akme/admins"}}), "akme"},
		{"no claim is the operator", "org", tok(nil), ""},
		{"not configured: the claim is ignored", "", tok(map[string]any{"org": "akme"}), ""},
		{"two organisations", "groups", tok(map[string]any{"groups": []string{"/orgs/akme", "/orgs/bravo"}}), "!more than one organisation"},
		{"malformed name", "org", tok(map[string]any{"org": "Akme Inc"}), "!not an organisation name"},
		{"wrong type", "org", tok(map[string]any{"org": 7}), "!organisation claim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewOIDC(OIDCConfig{Issuer: p.srv.URL, Audience: "vccpki-api", OrgClaim: tc.claim})
			if err != nil {
				t.Fatal(err)
			}
			pr, err := o.Authenticate(request(tc.tok))
			if detail, refused := strings.CutPrefix(tc.want, "!"); refused {
				var ae *Error
				if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || !strings.Contains(ae.Detail, detail) {
					t.Fatalf("got %v, %v; want a 401 naming %q", pr, err, detail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pr.Org != tc.want {
				t.Errorf("org %q; want %q", pr.Org, tc.want)
			}
		})
	}
}

// TestMTLSOrganisation: urn:vccpki:org:<org> beside the role URIs names
// the certificate's organisation; two, or a malformed one, are refused.
func TestMTLSOrganisation(t *testing.T) {
	root := mkCert(t, nil, caTmpl("VCC Root CA"))
	admin := mkCert(t, root, caTmpl("VCC Admin CA"))
	leaf := func(orgs ...string) *testCA {
		tmpl := leafTmpl("partner-admin", x509.ExtKeyUsageClientAuth, "pki_admin")
		for _, o := range orgs {
			u, _ := url.Parse(OrgURIPrefix + o)
			tmpl.URIs = append(tmpl.URIs, u)
		}
		return mkCert(t, admin, tmpl)
	}
	m, err := NewMTLS(MTLSConfig{AdminCA: admin.cert, Others: []*x509.Certificate{root.cert},
		Status: func(context.Context, *big.Int) (CertStatus, error) { return CertGood, nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cert *testCA
		want string // "!" for a refusal
	}{
		{"no organisation: the operator", leaf(), ""},
		{"one organisation", leaf("akme"), "akme"},
		{"the same one twice", leaf("akme", "akme"), "akme"},
		{"two organisations", leaf("akme", "bravo"), "!"},
		{"malformed", leaf("Akme"), "!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/cas", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{tc.cert.cert}}
			p, err := m.Authenticate(r)
			if tc.want == "!" {
				var ae *Error
				if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
					t.Fatalf("got %v, %v; want 401", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Org != tc.want {
				t.Errorf("org %q; want %q", p.Org, tc.want)
			}
		})
	}
}

// TestScope: the operator's people are unscoped; a partner's see only
// their own organisation.
func TestScope(t *testing.T) {
	for _, tc := range []struct {
		name      string
		p         *Principal
		scope     string
		sees, not []string
	}{
		{"operator (implicit)", &Principal{}, "", []string{"vcc", "", "akme"}, nil},
		{"operator (explicit)", &Principal{Org: "vcc"}, "", []string{"vcc", "akme"}, nil},
		{"partner", &Principal{Org: "akme"}, "akme", []string{"akme"}, []string{"vcc", "", "bravo"}},
		{"nobody", nil, "-", nil, []string{"vcc", "akme"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Scope(); got != tc.scope {
				t.Errorf("Scope = %q; want %q", got, tc.scope)
			}
			for _, o := range tc.sees {
				if !tc.p.Sees(o) {
					t.Errorf("does not see %q", o)
				}
			}
			for _, o := range tc.not {
				if tc.p.Sees(o) {
					t.Errorf("sees %q", o)
				}
			}
		})
	}
}
