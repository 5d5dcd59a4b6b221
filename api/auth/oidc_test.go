package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// idp is a minimal OpenID provider on loopback: discovery and a JWKS
// whose keys the test replaces (rotation).
type idp struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys []jose.JSONWebKey
	hits int // JWKS fetches
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	p := &idp{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/jwks",
			"authorization_endpoint": p.srv.URL + "/auth", "token_endpoint": p.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.hits++
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: p.keys})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// signer is a key the provider may publish.
type signer struct {
	kid string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func newSigner(t *testing.T, kid string, alg jose.SignatureAlgorithm) signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, alg, k}
}

func (p *idp) fetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits
}

func (p *idp) publish(s ...signer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = nil
	for _, k := range s {
		p.keys = append(p.keys, jose.JSONWebKey{Key: k.key.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
}

func (s signer) sign(t *testing.T, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", s.kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hs256 mints a token with a shared secret, which no allow-list accepts.
func hs256(t *testing.T, claims map[string]any) string {
	t.Helper()
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, _ := sg.Sign(payload)
	out, _ := jws.CompactSerialize()
	return out
}

// unsigned is an alg "none" token.
func unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "at+jwt"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func request(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/certificates", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func TestOIDCTokens(t *testing.T) {
	p := newIDP(t)
	rs := newSigner(t, "rsa-1", jose.RS256)
	ec := newSigner(t, "ec-1", jose.ES256)
	rs384 := newSigner(t, "rsa-384", jose.RS384)
	stranger := newSigner(t, "rsa-1", jose.RS256) // same kid, another key
	p.publish(rs, ec, rs384)
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": p.srv.URL, "sub": "u-1", "aud": []string{"vccpki-api", "other"}, "client_id": "cli",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "jti": "j1",
			"preferred_username": "alice", "email": "alice@vcc.test",
			"realm_access":    map[string]any{"roles": []string{"pki_admin", "offline_access"}},
			"resource_access": map[string]any{"vccpki": map[string]any{"roles": []string{"auditor"}}},
			"groups":          []string{"verifier"},
			"custom":          map[string]any{"deep": map[string]any{"role": "code_signer"}},
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	for _, tc := range []struct {
		name      string
		cfg       func(*OIDCConfig)
		tok       string
		header    string // raw Authorization header instead of "Bearer tok"
		wantRoles []string
		wantName  string
		wantNone  bool   // ErrNoCredentials
		wantErr   string // a part of the refusal's detail
	}{
		{name: "keycloak-realm preset", tok: rs.sign(t, "at+jwt", claims(nil)), wantRoles: []string{"pki_admin", "offline_access"}, wantName: "alice"},
		{name: "keycloak-client preset", cfg: func(c *OIDCConfig) { c.RolesClaim, c.ClientID = RolesKeycloakClient, "vccpki" }, tok: rs.sign(t, "at+jwt", claims(nil)), wantRoles: []string{"auditor"}},
		{name: "groups preset", cfg: func(c *OIDCConfig) { c.RolesClaim = RolesGroups }, tok: rs.sign(t, "at+jwt", claims(nil)), wantRoles: []string{"verifier"}},
		{name: "a dotted path to one string", cfg: func(c *OIDCConfig) { c.RolesClaim = "custom.deep.role" }, tok: rs.sign(t, "at+jwt", claims(nil)), wantRoles: []string{"code_signer"}},
		{name: "ES256 accepted", tok: ec.sign(t, "application/at+jwt", claims(nil)), wantRoles: []string{"pki_admin", "offline_access"}},
		{name: "email when there is no preferred_username", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { delete(c, "preferred_username") })), wantRoles: []string{"pki_admin", "offline_access"}, wantName: "alice@vcc.test"},
		{name: "no roles claim: accepted with no roles", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { delete(c, "realm_access") })), wantRoles: []string{}},
		{name: "typ JWT when allowed", cfg: func(c *OIDCConfig) { c.AllowJWTTyp = true }, tok: rs.sign(t, "JWT", claims(nil)), wantRoles: []string{"pki_admin", "offline_access"}},
		{name: "no Authorization header", wantNone: true},
		{name: "another scheme", header: "Basic YTpi", wantNone: true},
		{name: "Bearer without token", header: "Bearer ", wantErr: "carries no token"},
		{name: "not a JWT", tok: "opaque-token", wantErr: "not a JWT"},
		{name: "typ JWT refused by default", tok: rs.sign(t, "JWT", claims(nil)), wantErr: "typ header"},
		{name: "no typ refused", tok: rs.sign(t, "", claims(nil)), wantErr: "typ header"},
		{name: "alg none", tok: unsigned(claims(nil)), wantErr: `algorithm "none"`},
		{name: "alg HS256", tok: hs256(t, claims(nil)), wantErr: `algorithm "HS256"`},
		{name: "alg outside a configured list", cfg: func(c *OIDCConfig) { c.Algorithms = []string{"ES256"} }, tok: rs.sign(t, "at+jwt", claims(nil)), wantErr: `algorithm "RS256"`},
		{name: "RS384 outside the default list", tok: rs384.sign(t, "at+jwt", claims(nil)), wantErr: `algorithm "RS384"`},
		{name: "unknown issuer", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { c["iss"] = "https://evil.test" })), wantErr: "unknown issuer"},
		{name: "expired", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), wantErr: "expired"},
		{name: "no exp", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { delete(c, "exp") })), wantErr: "no exp"},
		{name: "not yet valid", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), wantErr: "not valid before"},
		{name: "wrong audience", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { c["aud"] = "cli" })), wantErr: "audience"},
		{name: "no sub", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { delete(c, "sub") })), wantErr: "no sub"},
		{name: "a key the issuer does not publish", tok: stranger.sign(t, "at+jwt", claims(nil)), wantErr: "signature"},
		{name: "roles claim of the wrong type", tok: rs.sign(t, "at+jwt", claims(func(c map[string]any) { c["realm_access"] = map[string]any{"roles": 7} })), wantErr: "roles claim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := OIDCConfig{Issuer: p.srv.URL, Audience: "vccpki-api"}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			o, err := NewOIDC(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := request(tc.tok)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			pr, err := o.Authenticate(r)
			switch {
			case tc.wantNone:
				if !errors.Is(err, ErrNoCredentials) {
					t.Fatalf("got %v, %v; want no credentials", pr, err)
				}
			case tc.wantErr != "":
				var ae *Error
				if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || !strings.Contains(ae.Detail, tc.wantErr) {
					t.Fatalf("got %v, %v; want a 401 naming %q", pr, err, tc.wantErr)
				}
				if tc.tok != "" && len(tc.tok) > 20 && strings.Contains(ae.Detail, tc.tok) {
					t.Errorf("the refusal echoes the token: %s", ae.Detail)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if pr.Method != MethodOIDC || pr.Subject != "u-1" || pr.Issuer != p.srv.URL {
					t.Errorf("principal %+v", pr)
				}
				if tc.wantName != "" && pr.Name != tc.wantName {
					t.Errorf("name %q, want %q", pr.Name, tc.wantName)
				}
				if !slices.Equal(pr.Roles, tc.wantRoles) && !(len(pr.Roles) == 0 && len(tc.wantRoles) == 0) {
					t.Errorf("roles %v, want %v", pr.Roles, tc.wantRoles)
				}
			}
		})
	}
}

// A key removed from the JWKS no longer verifies: the first request after
// the fetch that withdrew it is refused (no waiting out a fetch in
// flight); a new key is fetched when a token names it.
func TestOIDCKeyRotation(t *testing.T) {
	p := newIDP(t)
	old, next := newSigner(t, "k1", jose.RS256), newSigner(t, "k2", jose.RS256)
	p.publish(old)
	o, err := NewOIDC(OIDCConfig{Issuer: p.srv.URL, Audience: "api", JWKSMinRefresh: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"iss": p.srv.URL, "sub": "s", "aud": "api", "exp": time.Now().Add(time.Hour).Unix()}
	oldTok, nextTok := old.sign(t, "at+jwt", c), next.sign(t, "at+jwt", c)
	if _, err := o.Authenticate(request(oldTok)); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	p.publish(next)
	if _, err := o.Authenticate(request(nextTok)); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	hits := p.fetches()
	var ae *Error
	if _, err := o.Authenticate(request(oldTok)); !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Detail, "signature") {
		t.Fatalf("a token of the removed key, on the next request: %v", err)
	}
	if p.fetches() != hits {
		t.Errorf("the withdrawn kid made the key set fetch again (%d fetches, want %d)", p.fetches(), hits)
	}
}

// A key withdrawn from the JWKS stops verifying once the key set is older
// than JWKSMaxAge, even when no token names a new key.
func TestOIDCKeySetMaxAge(t *testing.T) {
	p := newIDP(t)
	k1, k2 := newSigner(t, "k1", jose.ES256), newSigner(t, "k2", jose.ES256)
	p.publish(k1, k2)
	now := time.Now()
	o, err := NewOIDC(OIDCConfig{Issuer: p.srv.URL, Audience: "api", JWKSMaxAge: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok := k1.sign(t, "at+jwt", map[string]any{"iss": p.srv.URL, "sub": "s", "aud": "api", "exp": now.Add(time.Hour).Unix()})
	if _, err := o.Authenticate(request(tok)); err != nil {
		t.Fatal(err)
	}
	p.publish(k2)
	if _, err := o.Authenticate(request(tok)); err != nil {
		t.Fatalf("within the max age the cached key still verifies: %v", err)
	}
	now = now.Add(2 * time.Minute)
	var ae *Error
	if _, err := o.Authenticate(request(tok)); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("after the max age, a withdrawn key: %v", err)
	}
}

func TestOIDCProviderDown(t *testing.T) {
	p := newIDP(t)
	url := p.srv.URL
	p.srv.Close()
	o, err := NewOIDC(OIDCConfig{Issuer: url, Audience: "api"})
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(t, "k", jose.ES256)
	_, err = o.Authenticate(request(s.sign(t, "at+jwt", map[string]any{"iss": url, "sub": "s", "aud": "api", "exp": time.Now().Add(time.Hour).Unix()})))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("got %v, want 503", err)
	}
}

func TestOIDCConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     OIDCConfig
		wantErr string
	}{
		{"fine", OIDCConfig{Issuer: "https://idp.test", Audience: "api"}, ""},
		{"no issuer", OIDCConfig{Audience: "api"}, "issuer"},
		{"no audience", OIDCConfig{Issuer: "https://idp.test"}, "audience"},
		{"HS256 in the list", OIDCConfig{Issuer: "https://idp.test", Audience: "api", Algorithms: []string{"HS256"}}, "HS256"},
		{"none in the list", OIDCConfig{Issuer: "https://idp.test", Audience: "api", Algorithms: []string{"none"}}, "none"},
		{"keycloak-client without client_id", OIDCConfig{Issuer: "https://idp.test", Audience: "api", RolesClaim: RolesKeycloakClient}, "client_id"},
		{"an empty path element", OIDCConfig{Issuer: "https://idp.test", Audience: "api", RolesClaim: "a..b"}, "dotted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewOIDC(tc.cfg)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}
