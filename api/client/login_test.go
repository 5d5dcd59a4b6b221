package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// deviceProvider is a minimal RFC 8628 authorization server: the device
// endpoint (§3.1–3.2) and a token endpoint that answers the polls (§3.4,
// §3.5) from a script, then the token.
type deviceProvider struct {
	mu     sync.Mutex
	script []string // error codes answered to the polls, in order
	polls  []time.Time
	forms  []string
}

func (p *deviceProvider) serve(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("client_id") != "cli" || r.Form.Get("audience") != "vccpki-api" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"device_code": "dev-123", "user_code": "WDJB-MJHT",
			"verification_uri": "https://idp.example/device", "expires_in": 120, "interval": 1})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.polls = append(p.polls, time.Now())
		p.forms = append(p.forms, r.Form.Get("grant_type")+" "+r.Form.Get("device_code"))
		w.Header().Set("Content-Type", "application/json")
		if n := len(p.polls); n <= len(p.script) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": p.script[n-1]})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-1", "refresh_token": "rt-1", "token_type": "Bearer", "expires_in": 300})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestDeviceLogin: the polling of the device grant against a minimal RFC
// 8628 endpoint (conformance/remote runs it against a real provider,
// zitadel/oidc's): authorization_pending keeps polling, slow_down makes the
// interval 5 s longer (§3.5), access_denied and expired_token end the
// login with an error that says what happened.
func TestDeviceLogin(t *testing.T) {
	tests := []struct {
		name      string
		script    []string
		wantErr   string
		wantPolls int
		slowAfter int // the poll after this one waited the slowed interval
	}{
		{"pending then slow_down then token", []string{"authorization_pending", "slow_down"}, "", 3, 2},
		{"denied", []string{"access_denied"}, "the login was refused at the identity provider (access_denied", 1, 0},
		{"code expired", []string{"authorization_pending", "expired_token"}, "the code expired before the login was approved: run vccpki login again (expired_token", 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &deviceProvider{script: tc.script}
			srv := p.serve(t)
			cr := &Credentials{ClientID: "cli"}
			cfg := cr.oauth2Config(oauth2.Endpoint{DeviceAuthURL: srv.URL + "/device", TokenURL: srv.URL + "/token"})
			var shown *oauth2.DeviceAuthResponse
			tok, err := DeviceLogin(context.Background(), cfg, "vccpki-api", func(da *oauth2.DeviceAuthResponse) { shown = da })
			if shown == nil || shown.UserCode != "WDJB-MJHT" || shown.VerificationURI != "https://idp.example/device" {
				t.Fatalf("prompt got %+v", shown)
			}
			switch {
			case tc.wantErr == "" && (err != nil || tok.AccessToken != "at-1" || tok.RefreshToken != "rt-1"):
				t.Fatalf("token %+v, %v", tok, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err %v, want %s", err, tc.wantErr)
			}
			if len(p.polls) != tc.wantPolls {
				t.Fatalf("%d polls, want %d", len(p.polls), tc.wantPolls)
			}
			for _, f := range p.forms {
				if f != "urn:ietf:params:oauth:grant-type:device_code dev-123" {
					t.Errorf("poll form %q", f)
				}
			}
			// A lower bound only: the client must not poll sooner than the
			// slowed interval (1 s + 5 s); later is never wrong.
			if tc.slowAfter > 0 {
				if gap := p.polls[tc.slowAfter].Sub(p.polls[tc.slowAfter-1]); gap < 6*time.Second {
					t.Errorf("polled %v after slow_down, want at least 6s", gap)
				}
			}
		})
	}
}

// TestDeviceLoginWithoutEndpoint: a provider without a device endpoint
// is refused with advice, before any request.
func TestDeviceLoginWithoutEndpoint(t *testing.T) {
	_, err := DeviceLogin(context.Background(), &oauth2.Config{ClientID: "cli"}, "", nil)
	if err == nil || !strings.Contains(err.Error(), "--client-credentials") {
		t.Fatalf("err %v", err)
	}
}

// TestToken: a stored token is used while valid; an expired one is
// renewed with the refresh token and saved; without a way to renew, the
// error says to log in again.
func TestToken(t *testing.T) {
	p := &deviceProvider{}
	srv := p.serve(t)
	future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Minute)
	tests := []struct {
		name      string
		cr        Credentials
		want      string
		wantSaved bool
		wantErr   error
	}{
		{"valid", Credentials{Grant: GrantDevice, AccessToken: "old", Expiry: future}, "old", false, nil},
		{"expired, refreshed", Credentials{Grant: GrantDevice, ClientID: "cli", TokenURL: srv.URL + "/token", AccessToken: "old", RefreshToken: "rt-0", Expiry: past}, "at-1", true, nil},
		{"expired, no refresh token", Credentials{Grant: GrantDevice, AccessToken: "old", Expiry: past}, "", false, ErrExpired},
		{"expired client credentials, no secret", Credentials{Grant: GrantClientCredentials, AccessToken: "old", Expiry: past}, "", false, ErrExpired},
	}
	t.Setenv(SecretEnv, "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			saved := false
			got, err := tc.cr.Token(context.Background(), func(*Credentials) error { saved = true; return nil })
			if got != tc.want || !errors.Is(err, tc.wantErr) || saved != tc.wantSaved {
				t.Fatalf("token %q, err %v, saved %v; want %q, %v, %v", got, err, saved, tc.want, tc.wantErr, tc.wantSaved)
			}
			if tc.wantSaved && tc.cr.RefreshToken != "rt-1" {
				t.Errorf("refresh token %q not replaced", tc.cr.RefreshToken)
			}
		})
	}
}

// TestCredentialsFile: the login is saved 0600 and read back; a missing
// file is ErrNotLoggedIn.
func TestCredentialsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vccpki", "credentials.json")
	if _, err := LoadCredentials(path); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("missing file: %v", err)
	}
	cr := &Credentials{Server: "https://ca.example", Grant: GrantDevice, AccessToken: "at", Expiry: time.Now().Round(0)}
	if err := cr.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	got, err := LoadCredentials(path)
	if err != nil || got.Server != cr.Server || got.AccessToken != "at" || !got.Expiry.Equal(cr.Expiry) {
		t.Fatalf("read back %+v, %v", got, err)
	}
}

// TestReadSecret: a secret file others may read is refused; the
// environment is the fallback.
func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	good, loose := filepath.Join(dir, "good"), filepath.Join(dir, "loose")
	_ = os.WriteFile(good, []byte("s3cret\n"), 0o600)
	_ = os.WriteFile(loose, []byte("s3cret\n"), 0o644)
	_ = os.Chmod(loose, 0o644)
	tests := []struct {
		name, file, env, want, wantErr string
	}{
		{"file", good, "", "s3cret", ""},
		{"file readable by others", loose, "", "", "chmod 600"},
		{"environment", "", "from-env", "from-env", ""},
		{"none", "", "", "", SecretEnv},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(SecretEnv, tc.env)
			got, err := ReadSecret(tc.file)
			if got != tc.want || (tc.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("%q, %v; want %q, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
