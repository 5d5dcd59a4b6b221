package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Hydra is an ORY Hydra v2 OpenID provider (the version go.mod pins, run
// as a go tool) on free loopback ports with in-memory storage and JWT
// access tokens: a real, OpenID-certified provider for the API's tests.
type Hydra struct {
	Issuer string // from its discovery document
	Public string // http://127.0.0.1:PORT, the token endpoint's base
	Admin  string // http://127.0.0.1:PORT, the admin API
}

// HydraOptions configure a Hydra.
type HydraOptions struct {
	// TokenHook is the URL of oauth2.token_hook, which Hydra calls before
	// issuing each token; its answer's session.access_token claims go
	// into the token (top level when listed in TopLevelClaims).
	TokenHook string
	// TopLevelClaims are hook claims put at the top level of the JWT
	// (oauth2.allowed_top_level_claims), e.g. realm_access.
	TopLevelClaims []string
}

// StartHydra runs `hydra serve all` until the test ends.
func StartHydra(t testing.TB, o HydraOptions) *Hydra {
	t.Helper()
	// In-memory storage is Hydra's SQLite driver (cgo), behind a build tag.
	bin := GoTool(t, "github.com/ory/hydra/v2", "-tags", "sqlite,sqlite_omit_load_extension")
	ports := FreePorts(t, 2)
	h := &Hydra{Public: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), Admin: fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	cfg := map[string]any{
		"dsn": "memory",
		"serve": map[string]any{
			"public": map[string]any{"host": "127.0.0.1", "port": ports[0]},
			"admin":  map[string]any{"host": "127.0.0.1", "port": ports[1]},
		},
		"urls": map[string]any{
			"self":    map[string]any{"issuer": h.Public + "/"},
			"login":   h.Public + "/no-login",
			"consent": h.Public + "/no-consent",
		},
		"strategies": map[string]any{"access_token": "jwt"},
		"secrets":    map[string]any{"system": []string{"conformance-test-system-secret-0123456789"}},
		"oauth2": map[string]any{
			"allowed_top_level_claims": o.TopLevelClaims,
			"mirror_top_level_claims":  false,
		},
		"log": map[string]any{"level": "warn", "leak_sensitive_values": false},
	}
	if o.TokenHook != "" {
		cfg["oauth2"].(map[string]any)["token_hook"] = o.TokenHook
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "hydra.json")
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "hydra.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out", "--config", path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting hydra: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("hydra log:\n%s", out)
		}
	})
	Eventually(t, 60*time.Second, "hydra ready", func() bool {
		select {
		case <-exited:
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("hydra exited:\n%s", out)
		default:
		}
		resp, err := http.Get(h.Admin + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	var disc struct {
		Issuer string `json:"issuer"`
	}
	h.call(t, http.MethodGet, h.Public+"/.well-known/openid-configuration", nil, &disc, http.StatusOK)
	h.Issuer = disc.Issuer
	return h
}

// call sends a JSON request and decodes a JSON answer of status want.
func (h *Hydra) call(t testing.TB, method, u string, body, out any, want int) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s %s", method, u, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v %s", method, u, err, b)
		}
	}
}

// CreateClient makes a client-credentials client that may ask for
// tokens with audience.
func (h *Hydra) CreateClient(t testing.TB, id, secret string, audience ...string) {
	t.Helper()
	h.call(t, http.MethodPost, h.Admin+"/admin/clients", map[string]any{
		"client_id": id, "client_secret": secret, "grant_types": []string{"client_credentials"},
		"audience": audience, "token_endpoint_auth_method": "client_secret_basic", "access_token_strategy": "jwt",
	}, nil, http.StatusCreated)
}

// SetAccessTokenLifespan sets the lifespan of the client's
// client-credentials access tokens ("1s", "1h").
func (h *Hydra) SetAccessTokenLifespan(t testing.TB, id, lifespan string) {
	t.Helper()
	h.call(t, http.MethodPut, h.Admin+"/admin/clients/"+url.PathEscape(id)+"/lifespans",
		map[string]any{"client_credentials_grant_access_token_lifespan": lifespan}, nil, http.StatusOK)
}

// Token gets an access token with the client-credentials grant.
func (h *Hydra) Token(t testing.TB, id, secret string, audience ...string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(audience) > 0 {
		form.Set("audience", strings.Join(audience, " "))
	}
	req, _ := http.NewRequest(http.MethodPost, h.Public+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token for %s: %s %s", id, resp.Status, b)
	}
	return tok.AccessToken
}

// accessTokenKeys is the key set Hydra signs JWT access tokens with.
const accessTokenKeys = "hydra.jwt.access-token"

// RotateAccessTokenKey adds a new RS256 signing key for access tokens and
// deletes the old ones from the JWKS.
func (h *Hydra) RotateAccessTokenKey(t testing.TB, kid string) {
	t.Helper()
	h.RotateAccessTokenKeyAlg(t, kid, "RS256")
}

// RotateAccessTokenKeyAlg is RotateAccessTokenKey with a key for alg
// (RS256, ES256, ...): the tokens issued next are signed with alg.
func (h *Hydra) RotateAccessTokenKeyAlg(t testing.TB, kid, alg string) {
	t.Helper()
	var old struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	h.call(t, http.MethodGet, h.Admin+"/admin/keys/"+accessTokenKeys, nil, &old, http.StatusOK)
	h.call(t, http.MethodPost, h.Admin+"/admin/keys/"+accessTokenKeys, map[string]any{"alg": alg, "use": "sig", "kid": kid}, nil, http.StatusCreated)
	for _, k := range old.Keys {
		h.call(t, http.MethodDelete, h.Admin+"/admin/keys/"+accessTokenKeys+"/"+url.PathEscape(k.Kid), nil, nil, http.StatusNoContent)
	}
}
