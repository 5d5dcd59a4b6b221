package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vcc/vccpki/internal/safefile"
)

// Grants a login used.
const (
	GrantDevice            = "device_code"        // RFC 8628, for people
	GrantClientCredentials = "client_credentials" // RFC 6749 §4.4, for automation
)

// SecretEnv is where a client-credentials secret may come from instead of
// a file; never from the command line, where ps shows it.
const SecretEnv = "VCCPKI_CLIENT_SECRET"

// ErrNotLoggedIn: no stored login.
var ErrNotLoggedIn = errors.New("not logged in: run vccpki login --server https://<your CA>")

// Credentials are a stored login: the server, how it was trusted, the
// OpenID provider and the token. The file is 0600; the token never goes
// to a log.
type Credentials struct {
	Server       string    `json:"server"`
	CAPEM        string    `json:"ca_pem,omitempty"` // the server's trust anchor, when not the system's
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	Audience     string    `json:"audience"`
	TokenURL     string    `json:"token_url"`
	Grant        string    `json:"grant"`
	SecretFile   string    `json:"secret_file,omitempty"` // client credentials: where the secret is read again
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// CredentialsPath is os.UserConfigDir()/vccpki/credentials.json.
func CredentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory to keep the login in: %w", err)
	}
	return filepath.Join(dir, "vccpki", "credentials.json"), nil
}

// LoadCredentials reads a stored login; ErrNotLoggedIn when there is none.
func LoadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, err
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil || c.Server == "" {
		return nil, fmt.Errorf("%s is not a vccpki login; run vccpki logout, then vccpki login", path)
	}
	return &c, nil
}

// Save writes the login 0600 (its directory 0700).
func (c *Credentials) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return safefile.Write(path, append(b, '\n'), 0o600)
}

// HTTPClient trusts caPEM (the server's root certificate) when given, the
// system's roots otherwise.
func HTTPClient(caPEM []byte) (*http.Client, error) {
	if len(caPEM) == 0 {
		return &http.Client{Timeout: time.Minute}, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the CA file holds no PEM certificate")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}

// LoginOptions are what vccpki login was given.
type LoginOptions struct {
	Server   string
	ClientID string // overrides the server's cli_client_id
	CAPEM    []byte
	// ClientCredentials logs in as a client with Secret (read from
	// SecretFile or $VCCPKI_CLIENT_SECRET by the caller).
	ClientCredentials bool
	Secret            string
	SecretFile        string
	// Prompt shows the person the verification URI and user code.
	Prompt func(*oauth2.DeviceAuthResponse)
}

// Login asks the server which provider to use, gets a token from it and
// returns the login to store.
func Login(ctx context.Context, o LoginOptions) (*Credentials, error) {
	hc, err := HTTPClient(o.CAPEM)
	if err != nil {
		return nil, err
	}
	c := &Client{Base: o.Server, HTTP: hc}
	li, err := c.LoginInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking %s how to log in: %w", o.Server, err)
	}
	cr := &Credentials{Server: o.Server, CAPEM: string(o.CAPEM), Issuer: li.Issuer, ClientID: li.ClientID, Audience: li.Audience, SecretFile: o.SecretFile}
	if o.ClientID != "" {
		cr.ClientID = o.ClientID
	}
	if cr.ClientID == "" {
		return nil, errors.New("the server names no client for the CLI (api.auth.oidc.cli_client_id): give --client-id")
	}
	prov, err := oidc.NewProvider(ctx, li.Issuer)
	if err != nil {
		return nil, fmt.Errorf("the OpenID provider %s: %w", li.Issuer, err)
	}
	ep := prov.Endpoint()
	cr.TokenURL = ep.TokenURL
	var tok *oauth2.Token
	if o.ClientCredentials {
		cr.Grant = GrantClientCredentials
		tok, err = cr.clientCredentials(o.Secret).Token(ctx)
	} else {
		cr.Grant = GrantDevice
		tok, err = DeviceLogin(ctx, cr.oauth2Config(ep), cr.Audience, o.Prompt)
	}
	if err != nil {
		return nil, fmt.Errorf("getting a token from %s: %w", li.Issuer, err)
	}
	cr.setToken(tok)
	return cr, nil
}

func (cr *Credentials) clientCredentials(secret string) *clientcredentials.Config {
	// client_secret_basic (RFC 6749 §2.3.1), which every provider takes;
	// no auto-detection, which repeats a refused request the other way.
	cc := &clientcredentials.Config{ClientID: cr.ClientID, ClientSecret: secret, TokenURL: cr.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	if cr.Audience != "" {
		cc.EndpointParams = map[string][]string{"audience": {cr.Audience}}
	}
	return cc
}

// oauth2Config is the public client of the device flow: its client_id
// goes in the form (RFC 6749 §3.2.1), never auto-detected, which would
// repeat each refused poll and earn a slow_down.
func (cr *Credentials) oauth2Config(ep oauth2.Endpoint) *oauth2.Config {
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &oauth2.Config{ClientID: cr.ClientID, Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
}

func (cr *Credentials) setToken(t *oauth2.Token) {
	cr.AccessToken, cr.Expiry = t.AccessToken, t.Expiry
	if t.RefreshToken != "" {
		cr.RefreshToken = t.RefreshToken
	}
}

// DeviceLogin runs the device authorization grant (RFC 8628): it asks for
// a device code, shows the person where to enter it, and polls the token
// endpoint at the interval the provider gives, slower after slow_down
// (§3.4, §3.5), until the person has approved, refused, or the code
// expired.
func DeviceLogin(ctx context.Context, cfg *oauth2.Config, audience string, prompt func(*oauth2.DeviceAuthResponse)) (*oauth2.Token, error) {
	var opts []oauth2.AuthCodeOption
	if audience != "" {
		opts = append(opts, oauth2.SetAuthURLParam("audience", audience))
	}
	if cfg.Endpoint.DeviceAuthURL == "" {
		return nil, errors.New("the OpenID provider has no device authorization endpoint (RFC 8628); log in with --client-credentials")
	}
	da, err := cfg.DeviceAuth(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if prompt != nil {
		prompt(da)
	}
	tok, err := cfg.DeviceAccessToken(ctx, da)
	return tok, deviceError(err)
}

// deviceError says what the two final errors of the device grant (RFC
// 8628 §3.5) mean for the person, keeping the provider's code and text.
func deviceError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	var what string
	switch re.ErrorCode {
	case "access_denied":
		what = "the login was refused at the identity provider"
	case "expired_token":
		what = "the code expired before the login was approved: run vccpki login again"
	default:
		return err
	}
	if re.ErrorDescription != "" {
		return fmt.Errorf("%s (%s: %s)", what, re.ErrorCode, re.ErrorDescription)
	}
	return fmt.Errorf("%s (%s)", what, re.ErrorCode)
}

// ErrExpired: the token expired and cannot be renewed without the person.
var ErrExpired = errors.New("the login expired: run vccpki login again")

// Token returns a valid access token: the stored one, or a new one (a
// refresh token's, or the client's secret again), saved with save.
func (cr *Credentials) Token(ctx context.Context, save func(*Credentials) error) (string, error) {
	if cr.AccessToken != "" && (cr.Expiry.IsZero() || time.Until(cr.Expiry) > 30*time.Second) {
		return cr.AccessToken, nil
	}
	hc, err := HTTPClient(nil)
	if err != nil {
		return "", err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	var tok *oauth2.Token
	switch {
	case cr.Grant == GrantClientCredentials:
		secret, err := ReadSecret(cr.SecretFile)
		if err != nil {
			return "", fmt.Errorf("%w (%v)", ErrExpired, err)
		}
		tok, err = cr.clientCredentials(secret).Token(ctx)
		if err != nil {
			return "", fmt.Errorf("%w: renewing with the client secret: %v", ErrExpired, err)
		}
	case cr.RefreshToken != "":
		cfg := cr.oauth2Config(oauth2.Endpoint{TokenURL: cr.TokenURL})
		tok, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: cr.RefreshToken}).Token()
		if err != nil {
			return "", fmt.Errorf("%w: the refresh token was refused: %v", ErrExpired, err)
		}
	default:
		return "", ErrExpired
	}
	cr.setToken(tok)
	if save != nil {
		if err := save(cr); err != nil {
			return "", err
		}
	}
	return cr.AccessToken, nil
}

// ReadSecret reads a client secret from file (which must not be readable
// by others), else from $VCCPKI_CLIENT_SECRET.
func ReadSecret(file string) (string, error) {
	if file == "" {
		if s := os.Getenv(SecretEnv); s != "" {
			return s, nil
		}
		return "", errors.New("no client secret: give --client-secret-file FILE (mode 0600) or set " + SecretEnv)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %04o): chmod 600 it", file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return s, nil
}
