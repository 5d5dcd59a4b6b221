package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestLoginInfo: GET /login-info answers, without credentials, the
// provider, client and audience vccpki login uses; 404 (a problem) when
// the API takes no OIDC tokens. The answers are checked against the
// document by the client.
func TestLoginInfo(t *testing.T) {
	li := &LoginInfo{Issuer: "https://idp.example/realms/vcc", ClientID: "vccpki-cli", Audience: "vccpki-api"}
	withOIDC, err := New(Config{Engine: testEngine, Store: testStore, Authenticator: headerAuth{}, Now: testClock.Now, LoginInfo: li})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(withOIDC)
	t.Cleanup(srv.Close)
	tests := []struct {
		name   string
		srv    *httptest.Server
		status int
		want   *LoginInfo
	}{
		{"oidc configured", srv, http.StatusOK, li},
		{"no oidc", testSrv, http.StatusNotFound, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newClient(t, tc.srv).do("", "GET", "/login-info", nil)
			if r.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", r.StatusCode, r.body, tc.status)
			}
			if tc.want == nil {
				if p := r.problem(t); p.Type != ProblemBase+ProbNotFound {
					t.Errorf("problem %s, want not-found", p.Type)
				}
				return
			}
			var got LoginInfo
			r.decode(t, &got)
			if got != *tc.want {
				t.Errorf("got %+v, want %+v", got, *tc.want)
			}
		})
	}
}
