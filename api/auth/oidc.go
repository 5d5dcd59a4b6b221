package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/vcc/vccpki/store"
)

// Role claim presets: where an OpenID provider puts a user's roles.
const (
	RolesKeycloakRealm  = "keycloak-realm"  // realm_access.roles
	RolesKeycloakClient = "keycloak-client" // resource_access.<client_id>.roles
	RolesGroups         = "groups"          // groups
)

// DefaultAlgorithms are the JWS algorithms accepted when none are
// configured. "none" and the HMAC family are never accepted: a shared
// secret would let whoever holds it mint tokens.
var DefaultAlgorithms = []string{"RS256", "ES256", "PS256"}

// asymmetric are the algorithms an allow-list may name (RFC 7518 §3.1
// minus HS* and none, plus EdDSA of RFC 8037).
var asymmetric = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

// MaxTokenBytes bounds the bearer token read from a request.
const MaxTokenBytes = 16 << 10

// OIDCConfig configures the bearer-token authenticator.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document
	// (/.well-known/openid-configuration) names the JWKS.
	Issuer string
	// Audience must be among the token's aud values. It must not be an
	// OAuth client's ID, so that ID tokens (aud = client ID) are refused.
	Audience string
	// RolesClaim is a preset (keycloak-realm, keycloak-client, groups) or a
	// dotted claim path ("realm_access.roles"). Default keycloak-realm.
	RolesClaim string
	// ClientID names the client of the keycloak-client preset.
	ClientID string
	// OrgClaim, when set, is the dotted claim path of the caller's
	// organisation: a string or a list of strings, each an organisation
	// name ("org": "akme") or a Keycloak group path ("/orgs/akme"); other
	// group paths are ignored. More than one organisation is refused; none
	// is the operator. Empty: every caller is the operator's.
	OrgClaim string
	// Algorithms is the allow-list of JWS algorithms; default
	// DefaultAlgorithms.
	Algorithms []string
	// AllowJWTTyp also accepts the header typ "JWT" besides RFC 9068's
	// "at+jwt". Keycloak and ORY Hydra v2.3 write "JWT" into their access
	// tokens and cannot be told otherwise.
	AllowJWTTyp bool
	// Leeway absorbs clock skew in exp and nbf; default 30s.
	Leeway time.Duration
	// JWKSMaxAge is how long discovery and the key set are kept before
	// they are fetched again, so that a key the provider withdrew stops
	// verifying even if no token names a new key; default 10m.
	JWKSMaxAge time.Duration
	// JWKSMinRefresh is the least time between two fetches of the JWKS
	// (tokens naming unknown keys cannot make it fetch more often);
	// default 1s.
	JWKSMinRefresh time.Duration
	// HTTPClient fetches discovery and the JWKS; default a client with a
	// 10s timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// OIDC authenticates RFC 6750 bearer tokens that are RFC 9068 JWT access
// tokens of one issuer. Discovery runs at the first request (and again
// after a failure), so the API starts while the provider is down; the
// JWKS is cached and refetched when a token names an unknown key (KeySet),
// which follows the provider's key rotation.
type OIDC struct {
	cfg      OIDCConfig
	rolePath []string

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	built    time.Time // when verifier was made
	keys     *KeySet   // kept across discoveries while the jwks_uri stays
}

// RolesClaimPath resolves a preset or a dotted path to claim names.
func RolesClaimPath(claim, clientID string) ([]string, error) {
	switch claim {
	case "", RolesKeycloakRealm:
		return []string{"realm_access", "roles"}, nil
	case RolesKeycloakClient:
		if clientID == "" {
			return nil, fmt.Errorf("roles_claim %s needs client_id", RolesKeycloakClient)
		}
		return []string{"resource_access", clientID, "roles"}, nil
	case RolesGroups:
		return []string{"groups"}, nil
	}
	path := strings.Split(claim, ".")
	if slices.Contains(path, "") {
		return nil, fmt.Errorf("roles_claim %q: not a preset (%s, %s, %s) nor a dotted claim path", claim, RolesKeycloakRealm, RolesKeycloakClient, RolesGroups)
	}
	return path, nil
}

// NewOIDC checks the configuration; it does not reach the provider.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("oidc: issuer is required")
	}
	if !strings.HasPrefix(cfg.Issuer, "https://") && !strings.HasPrefix(cfg.Issuer, "http://") {
		return nil, fmt.Errorf("oidc: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.Audience == "" {
		return nil, errors.New("oidc: audience is required (RFC 9068 §4: the resource server checks aud)")
	}
	path, err := RolesClaimPath(cfg.RolesClaim, cfg.ClientID)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(asymmetric, a) {
			return nil, fmt.Errorf("oidc: algorithm %q is not allowed; choose from %s", a, strings.Join(asymmetric, ", "))
		}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.JWKSMaxAge == 0 {
		cfg.JWKSMaxAge = 10 * time.Minute
	}
	if cfg.JWKSMinRefresh == 0 {
		cfg.JWKSMinRefresh = time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &OIDC{cfg: cfg, rolePath: path}, nil
}

// bearer reads the RFC 6750 §2.1 Authorization header. Other schemes and
// no header are no credentials of this kind.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoCredentials
	}
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "":
		return "", Unauthorized("the Authorization header names Bearer but carries no token")
	case len(tok) > MaxTokenBytes:
		return "", Unauthorized(fmt.Sprintf("the bearer token is longer than %d bytes", MaxTokenBytes))
	}
	return tok, nil
}

// joseHeader is what the authenticator reads before verifying.
type joseHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// peek decodes a compact JWS's header and unverified payload, only to
// name what is wrong; nothing of them is trusted before verification.
func peek(tok string) (joseHeader, map[string]any, error) {
	var h joseHeader
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return h, nil, Unauthorized("the bearer token is not a JWT in compact serialization (RFC 9068 access tokens are)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return h, nil, Unauthorized("the bearer token's JOSE header does not decode")
	}
	var claims map[string]any
	raw, err = base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		return h, nil, Unauthorized("the bearer token's claims do not decode as JSON")
	}
	return h, claims, nil
}

// quote shows an untrusted value in a refusal, shortened.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// Authenticate implements Authenticator.
func (o *OIDC) Authenticate(r *http.Request) (*Principal, error) {
	tok, err := bearer(r)
	if err != nil {
		return nil, err
	}
	h, unverified, err := peek(tok)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(o.cfg.Algorithms, h.Alg) {
		return nil, Unauthorized(fmt.Sprintf("the token is signed with algorithm %s, which is not allowed (allowed: %s)", quote(h.Alg), strings.Join(o.cfg.Algorithms, ", ")))
	}
	if !o.typOK(h.Typ) {
		return nil, Unauthorized(fmt.Sprintf("the token's typ header is %s, not at+jwt: not an RFC 9068 access token", quote(h.Typ)))
	}
	if iss, _ := unverified["iss"].(string); iss != o.cfg.Issuer {
		return nil, Unauthorized(fmt.Sprintf("the token was issued by an unknown issuer %s (expected %s)", quote(iss), o.cfg.Issuer))
	}
	v, err := o.verifierFor(r.Context())
	if err != nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "the identity provider cannot be reached to check the token: " + err.Error()}
	}
	idt, err := v.Verify(oidc.ClientContext(r.Context(), o.cfg.HTTPClient), tok)
	if err != nil {
		if strings.Contains(err.Error(), errFetch.Error()) { // go-oidc wraps with %v
			return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "the identity provider's keys (JWKS) cannot be fetched to check the token"}
		}
		return nil, Unauthorized("the token's signature does not verify with any of the issuer's current keys (kid " + quote(h.Kid) + ")")
	}
	var c struct {
		Exp               *float64 `json:"exp"`
		Nbf               *float64 `json:"nbf"`
		Sub               string   `json:"sub"`
		PreferredUsername string   `json:"preferred_username"`
		Email             string   `json:"email"`
	}
	var all map[string]any
	if err := idt.Claims(&c); err != nil {
		return nil, Unauthorized("the token's claims have the wrong types: " + err.Error())
	}
	if err := idt.Claims(&all); err != nil {
		return nil, Unauthorized("the token's claims do not decode")
	}
	now := o.cfg.Now()
	switch {
	case c.Exp == nil:
		return nil, Unauthorized("the token has no exp claim (RFC 9068 §2.2 requires it)")
	case now.After(unix(*c.Exp).Add(o.cfg.Leeway)):
		return nil, Unauthorized("the token expired at " + unix(*c.Exp).UTC().Format(time.RFC3339))
	case c.Nbf != nil && now.Add(o.cfg.Leeway).Before(unix(*c.Nbf)):
		return nil, Unauthorized("the token is not valid before " + unix(*c.Nbf).UTC().Format(time.RFC3339))
	case !slices.Contains(idt.Audience, o.cfg.Audience):
		return nil, Unauthorized(fmt.Sprintf("the token's audience %s does not include %s", quote(strings.Join(idt.Audience, " ")), o.cfg.Audience))
	case c.Sub == "":
		return nil, Unauthorized("the token has no sub claim (RFC 9068 §2.2 requires it)")
	}
	roles, err := claimStrings(all, o.rolePath)
	if err != nil {
		return nil, Unauthorized(err.Error())
	}
	org, err := o.orgOf(all)
	if err != nil {
		return nil, Unauthorized(err.Error())
	}
	name := c.PreferredUsername
	if name == "" {
		name = c.Email
	}
	return &Principal{Method: MethodOIDC, Issuer: idt.Issuer, Subject: c.Sub, Name: name, Roles: roles, Org: org}, nil
}

func unix(f float64) time.Time { return time.Unix(int64(f), 0) }

// typOK: RFC 9068 §2.1 "at+jwt" (or its media type form, RFC 7515 §4.1.9),
// compared case-insensitively; "JWT" only when configured.
func (o *OIDC) typOK(typ string) bool {
	t := strings.ToLower(typ)
	if t == "at+jwt" || t == "application/at+jwt" {
		return true
	}
	return o.cfg.AllowJWTTyp && t == "jwt"
}

// verifierFor discovers the provider and makes a verifier with a fresh
// key set, again after JWKSMaxAge; a failed discovery is retried at the
// next request, and the previous verifier serves meanwhile.
func (o *OIDC) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.cfg.Now()
	if o.verifier != nil && now.Sub(o.built) < o.cfg.JWKSMaxAge {
		return o.verifier, nil
	}
	v, err := o.discover(ctx)
	if err != nil {
		if o.verifier != nil {
			return o.verifier, nil
		}
		return nil, err
	}
	o.verifier, o.built = v, now
	return v, nil
}

func (o *OIDC) discover(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	// The key set outlives this request: its context only carries the
	// HTTP client.
	base := oidc.ClientContext(context.WithoutCancel(ctx), o.cfg.HTTPClient)
	dctx, cancel := context.WithTimeout(base, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %v", o.cfg.Issuer, err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, fmt.Errorf("discovery of %s names no jwks_uri", o.cfg.Issuer)
	}
	if o.keys == nil || o.keys.URL != meta.JWKS {
		algs := make([]jose.SignatureAlgorithm, len(o.cfg.Algorithms))
		for i, a := range o.cfg.Algorithms {
			algs[i] = jose.SignatureAlgorithm(a)
		}
		o.keys = &KeySet{URL: meta.JWKS, HTTPClient: o.cfg.HTTPClient, Algorithms: algs,
			MaxAge: o.cfg.JWKSMaxAge, MinRefresh: o.cfg.JWKSMinRefresh, Now: o.cfg.Now}
	}
	// exp, nbf and aud are checked by Authenticate, to say which failed.
	return oidc.NewVerifier(o.cfg.Issuer, o.keys, &oidc.Config{
		SupportedSigningAlgs: o.cfg.Algorithms,
		SkipClientIDCheck:    true,
		SkipExpiryCheck:      true,
	}), nil
}

// claimStrings follows path through the claims; the value is a list of
// strings or one string. A missing claim means no roles.
func claimStrings(claims map[string]any, path []string) ([]string, error) {
	var v any = claims
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil
		}
		if v, ok = m[k]; !ok {
			return nil, nil
		}
	}
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("the roles claim %s holds a non-string value", strings.Join(path, "."))
			}
			out = append(out, s)
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("the roles claim %s is neither a string nor a list of strings", strings.Join(path, "."))
}

// orgGroupPrefix is the Keycloak group path of an organisation's members.
const orgGroupPrefix = "/orgs/"

// orgOf reads the caller's organisation from the OrgClaim ("" for the
// operator).
func (o *OIDC) orgOf(claims map[string]any) (string, error) {
	if o.cfg.OrgClaim == "" {
		return "", nil
	}
	vals, err := claimStrings(claims, strings.Split(o.cfg.OrgClaim, "."))
	if err != nil {
		return "", fmt.Errorf("the organisation claim: %w", err)
	}
	org := ""
	for _, v := range vals {
		if strings.HasPrefix(v, "/") {
			g, ok := strings.CutPrefix(v, orgGroupPrefix)
			if !ok {
				continue // another group
			}
			v, _, _ = strings.Cut(g, "/") // a sub-group belongs to its organisation
		}
		if !store.ValidOrgName(v) {
			return "", fmt.Errorf("the organisation claim %s holds %q, which is not an organisation name", o.cfg.OrgClaim, v)
		}
		if org != "" && org != v {
			return "", fmt.Errorf("the organisation claim %s names more than one organisation", o.cfg.OrgClaim)
		}
		org = v
	}
	return org, nil
}
