package main

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
)

// apiFile is the configuration file's api section: the API's own
// settings and, under auth, who may call it.
type apiFile struct {
	api.FileConfig `yaml:",inline"`
	Auth           apiAuthFile `yaml:"auth"`
}

// apiAuthFile is api.auth: who may call the management API.
type apiAuthFile struct {
	// OIDC bearer tokens (RFC 6750, RFC 9068) of one OpenID provider;
	// absent means none are accepted.
	OIDC *struct {
		Issuer      string   `yaml:"issuer"`
		Audience    string   `yaml:"audience"`
		RolesClaim  string   `yaml:"roles_claim"` // keycloak-realm (default), keycloak-client, groups, or a dotted path
		ClientID    string   `yaml:"client_id"`   // the client of keycloak-client
		Algorithms  []string `yaml:"algorithms"`  // default RS256, ES256, PS256
		AllowJWTTyp bool     `yaml:"allow_jwt_typ"`
		CLIClientID string   `yaml:"cli_client_id"` // the public client vccpki login's device flow uses
		OrgClaim    string   `yaml:"org_claim"`     // dotted path of the caller's organisation ("org", "groups" with /orgs/<org>); empty: all are the operator's
	} `yaml:"oidc"`
	// MTLS accepts client certificates of the VCC Admin CA.
	MTLS bool `yaml:"mtls"`
}

// apiAuthConfig is the validated api.auth section.
type apiAuthConfig struct {
	oidc  *auth.OIDCConfig
	mtls  bool
	login *api.LoginInfo // served at /api/v1/login-info
}

// resolve checks the section; the OIDC settings are checked as NewOIDC
// will check them, so a bad file fails at load, not at the first call.
func (f apiAuthFile) resolve() (apiAuthConfig, error) {
	c := apiAuthConfig{mtls: f.MTLS}
	if o := f.OIDC; o != nil {
		c.oidc = &auth.OIDCConfig{Issuer: o.Issuer, Audience: o.Audience, RolesClaim: o.RolesClaim, ClientID: o.ClientID, Algorithms: o.Algorithms, AllowJWTTyp: o.AllowJWTTyp, OrgClaim: o.OrgClaim}
		c.login = &api.LoginInfo{Issuer: o.Issuer, ClientID: o.CLIClientID, Audience: o.Audience}
		if _, err := auth.NewOIDC(*c.oidc); err != nil {
			return c, fmt.Errorf("field api.auth.oidc: %w", err)
		}
	}
	return c, nil
}

// apiAuthenticator builds the API's authenticator chain from api.auth: a
// bearer token first (a credential of this request), then the TLS client
// certificate. With neither configured every call is refused 401.
func apiAuthenticator(ctx context.Context, a *app, e *ca.Engine) (auth.Authenticator, error) {
	cfg := a.cfg.apiAuth
	var chain auth.Chain
	if cfg.oidc != nil {
		o, err := auth.NewOIDC(*cfg.oidc)
		if err != nil {
			return nil, fmt.Errorf("api.auth.oidc: %w", err)
		}
		chain = append(chain, o)
	}
	if cfg.mtls {
		m, err := adminMTLS(e)
		if err != nil {
			return nil, err
		}
		chain = append(chain, m)
	}
	return chain, nil
}

// adminMTLS is auth.AdminMTLS with the command's advice.
func adminMTLS(e *ca.Engine) (*auth.MTLS, error) {
	m, err := auth.AdminMTLS(e)
	if err != nil {
		return nil, fmt.Errorf("api.auth.mtls is true but %w", err)
	}
	return m, nil
}
