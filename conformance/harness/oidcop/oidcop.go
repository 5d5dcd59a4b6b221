// Package oidcop runs a real OpenID provider with the device authorization
// grant (RFC 8628), which the pinned ORY Hydra lacks: zitadel/oidc v3's
// pkg/op (an OpenID-certified library) with the module's example server
// (example/server/exampleop: its provider configuration and its device
// login pages) and example storage, in the test process on a loopback
// HTTP port. A thin layer over the example storage makes the CLI's client
// public with JWT access tokens (RFC 9068 shape) carrying the API's
// audience, Keycloak's realm_access.roles and preferred_username.
package oidcop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Password is every test user's password.
const Password = "correct horse battery staple"

// Options configure an OP.
type Options struct {
	ClientID string              // the public client of the device flow (vccpki's cli_client_id)
	Audience string              // the API's audience, in every access token's aud
	Users    map[string][]string // username → realm roles
}

// OP is a running provider.
type OP struct {
	Issuer string // http://127.0.0.1:PORT
	store  *store
}

// Start runs the provider until the test ends.
func Start(t testing.TB, o Options) *OP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	users := userStore{}
	for name := range o.Users {
		users[name] = &storage.User{ID: SubjectOf(name), Username: name, Password: Password, Email: name + "@vcc.test", EmailVerified: true}
	}
	client := storage.DeviceClient(o.ClientID, "")
	s := &store{Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{o.ClientID: client}), o: o, users: users}
	// The example's request log goes to slog's default logger; keep it
	// out of the test's output.
	router := exampleop.SetupServer(issuer, s, slog.New(slog.DiscardHandler), false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &OP{Issuer: issuer, store: s}
}

// SubjectOf is the sub claim of a user: an opaque ID, not the username
// (which is preferred_username), so that a test tells them apart.
func SubjectOf(username string) string { return "uid-" + username }

// Approve acts as the person at the verification URI: logs in as user
// and allows the device; Deny refuses it.
func (p *OP) Approve(t testing.TB, verificationURIComplete, user string) {
	t.Helper()
	p.verify(t, verificationURIComplete, user, "allowed")
}

// Deny: see Approve.
func (p *OP) Deny(t testing.TB, verificationURIComplete, user string) {
	t.Helper()
	p.verify(t, verificationURIComplete, user, "denied")
}

// verify drives the example's device pages with a browser's requests:
// GET the verification URI (the login form for the user code), POST the
// login form, then the Allow or Deny button's GET of confirm.
func (p *OP) verify(t testing.TB, uri, user, action string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("verification URI %q: %v", uri, err)
	}
	code := u.Query().Get("user_code")
	page := get(t, hc, uri)
	if !strings.Contains(page, `action="/device/login"`) || !strings.Contains(page, `value="`+code+`"`) {
		t.Fatalf("GET %s: not the login form for %s:\n%s", uri, code, page)
	}
	login := u.ResolveReference(&url.URL{Path: "/device/login"})
	resp, err := hc.PostForm(login.String(), url.Values{"user_code": {code}, "username": {user}, "password": {Password}})
	if err != nil {
		t.Fatalf("POST %s: %v", login, err)
	}
	page = body(t, resp)
	if !strings.Contains(page, "Welcome back "+user) || !strings.Contains(page, "confirm?action="+action) {
		t.Fatalf("POST %s: not the confirmation page:\n%s", login, page)
	}
	confirm := login.ResolveReference(&url.URL{Path: "confirm", RawQuery: "action=" + action})
	if page := get(t, hc, confirm.String()); !strings.Contains(page, "Device authorization "+action) {
		t.Fatalf("GET %s: %s", confirm, page)
	}
}

func get(t testing.TB, hc *http.Client, u string) string {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return body(t, resp)
}

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %v %s", resp.Request.Method, resp.Request.URL, resp.Status, err, b)
	}
	return string(b)
}

// userStore is storage.UserStore over the test's users.
type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User {
	for _, x := range u {
		if x.ID == id {
			return x
		}
	}
	return nil
}

func (u userStore) GetUserByUsername(name string) *storage.User { return u[name] }
func (u userStore) ExampleClientID() string                     { return storage.ServiceUserID }

// store is the example storage with what a test of vccpki needs.
type store struct {
	*storage.Storage
	o        Options
	users    userStore
	lifetime atomic.Int64 // time.Duration; 0: the example's
	slowDown atomic.Int64 // polls still to answer with slow_down

	mu    sync.Mutex
	polls []time.Time // of the token endpoint for device codes
}

// GetClientByClientID: the CLI is a native, public client (RFC 6749 §2.1;
// no secret on a person's machine) that gets JWT access tokens.
func (s *store) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return publicJWT{c}, nil
}

type publicJWT struct{ op.Client }

func (publicJWT) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (publicJWT) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodNone }
func (publicJWT) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

// SetCodeLifetime shortens the life of the device codes issued from now
// on (the example server's is 5 minutes; its expires_in still says so);
// 0 restores it.
func (p *OP) SetCodeLifetime(d time.Duration) { p.store.lifetime.Store(int64(d)) }

// StoreDeviceAuthorization shortens the code's life when asked.
func (s *store) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	if d := time.Duration(s.lifetime.Load()); d > 0 {
		expires = time.Now().Add(d)
	}
	return s.Storage.StoreDeviceAuthorization(ctx, clientID, deviceCode, userCode, expires, scopes)
}

// SlowDown makes the next n polls of the token endpoint answer
// slow_down (RFC 8628 §3.5), pkg/op's answer when the storage times out.
func (p *OP) SlowDown(n int) { p.store.slowDown.Store(int64(n)) }

// Polls returns the times of the device-code polls of the token endpoint
// so far.
func (p *OP) Polls() []time.Time {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	return slices.Clone(p.store.polls)
}

// GetDeviceAuthorizatonState, called on each poll, adds the API's
// audience to the token's aud (pkg/op adds the client's).
func (s *store) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	s.mu.Lock()
	s.polls = append(s.polls, time.Now())
	s.mu.Unlock()
	if s.slowDown.Add(-1) >= 0 {
		return nil, context.DeadlineExceeded // op.CheckDeviceAuthorizationState: slow_down
	}
	st, err := s.Storage.GetDeviceAuthorizatonState(ctx, clientID, deviceCode)
	if err != nil {
		return nil, err
	}
	c := *st
	c.Audience = []string{s.o.Audience}
	return &c, nil
}

// CompleteDeviceAuthorization: the example's login page gives the
// username; the token's subject is the user's ID.
func (s *store) CompleteDeviceAuthorization(ctx context.Context, userCode, username string) error {
	u := s.users.GetUserByUsername(username)
	if u == nil {
		return errors.New("no such user")
	}
	return s.Storage.CompleteDeviceAuthorization(ctx, userCode, u.ID)
}

// GetPrivateClaimsFromScopes puts Keycloak's realm roles and the username
// into the access token.
func (s *store) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	u := s.users.GetUserByID(userID)
	if u == nil {
		return nil, fmt.Errorf("no user %s", userID)
	}
	return map[string]any{
		"preferred_username": u.Username,
		"realm_access":       map[string]any{"roles": s.o.Users[u.Username]},
	}, nil
}
