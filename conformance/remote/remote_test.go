// Package remote tests the remote CLI: vccpki login against ORY Hydra
// (client credentials) and, for the device flow Hydra v2.3.0 lacks,
// against zitadel/oidc's provider (device_test.go), then the admin
// commands through the server's API, compared with the same commands on
// the local store.
package remote

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

const audience = "vccpki-api"

// rolesHook gives each Hydra client Keycloak-shaped claims.
func rolesHook(t *testing.T, roles map[string][]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Request struct {
				ClientID string `json:"client_id"`
			} `json:"request"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		claims := map[string]any{"preferred_username": req.Request.ClientID, "realm_access": map[string]any{"roles": roles[req.Request.ClientID]}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"session": map[string]any{"access_token": claims}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// cli runs the binary as one user of the remote CLI: its own
// configuration directory (where the login is kept).
type cli struct {
	t   *testing.T
	env []string
	dir string
}

func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	return &cli{t: t, dir: dir, env: []string{"XDG_CONFIG_HOME=" + dir, "HOME=" + dir, "VCCPKI_CLIENT_SECRET=", "VCCPKI_SERVER="}}
}

func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	return harness.RunEnv(c.t, c.env, args...)
}

func (c *cli) credentials() string { return filepath.Join(c.dir, "vccpki", "credentials.json") }

func (c *cli) login(server, root, id, secret string) {
	c.t.Helper()
	sf := filepath.Join(c.dir, id+".secret")
	if err := os.WriteFile(sf, []byte(secret+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	out, errOut, code := c.run("login", "--server", server, "--ca", root, "--client-credentials", "--client-secret-file", sf, "--client-id", id)
	if code != 0 || !strings.Contains(out, "logged in to "+server) {
		c.t.Fatalf("login as %s: %d %s%s", id, code, out, errOut)
	}
	fi, err := os.Stat(c.credentials())
	if err != nil || fi.Mode().Perm() != 0o600 {
		c.t.Fatalf("credentials file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(c.credentials()); strings.Contains(string(b), secret) {
		c.t.Fatalf("the client secret is in the credentials file")
	}
}

// certStatus is a certificate's status in the local certs list.
func certStatus(t *testing.T, local func(...string) (string, string, int), serial string) string {
	t.Helper()
	var rows []struct{ Serial, Status string }
	if err := json.Unmarshal([]byte(mustRun(t, "certs list", local, "certs", "list", "--json", "--all")), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Serial == serial {
			return r.Status
		}
	}
	t.Fatalf("no certificate %s", serial)
	return ""
}

func mustRun(t *testing.T, what string, run func(...string) (string, string, int), args ...string) string {
	t.Helper()
	out, errOut, code := run(args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", what, code, out, errOut)
	}
	return out
}

// TestRemoteCLI: login with client credentials at Hydra, then every
// remote command; its output is the local command's on the same data,
// and the audit log names the token's subject.
func TestRemoteCLI(t *testing.T) {
	hook := rolesHook(t, map[string][]string{"ops": {"pki_admin", "auditor"}, "ops2": {"pki_admin"}, "viewer": {"auditor"}})
	idp := harness.StartHydra(t, harness.HydraOptions{TokenHook: hook.URL, TopLevelClaims: []string{"realm_access", "preferred_username"}})
	idp.CreateClient(t, "ops", "ops-secret", audience)
	idp.CreateClient(t, "viewer", "viewer-secret", audience)
	idp.CreateClient(t, "ops2", "ops2-secret", audience)

	dir := t.TempDir()
	services := filepath.Join(dir, "services.yaml")
	if err := os.WriteFile(services, []byte("services:\n  - name: argus\n    protocol: acme\n    endpoints:\n      - {address: \"127.0.0.1:1\", sni: argus.vcc.internal}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, data := harness.Config(t, "api:\n  auth:\n    oidc:\n      issuer: "+idp.Issuer+"\n      audience: "+audience+"\n      cli_client_id: vccpki-cli\n      allow_jwt_typ: true\n"+
		"fleet:\n  services: "+services+"\n  probe_timeout: 2s\n")
	srv := harness.StartServer(t, cfg)
	root := filepath.Join(data, "root.pem")
	local := func(args ...string) (string, string, int) { return harness.Run(t, append(args, "--config", cfg)...) }

	var serials []string
	for _, n := range []string{"a.argus.test", "b.argus.test", "c.argus.test"} {
		out := mustRun(t, "issue", local, "issue", "--profile", "argus", "--csr", harness.WriteCSR(t, t.TempDir(), "", n))
		if !strings.Contains(out, "BEGIN CERTIFICATE") {
			t.Fatalf("issue: %s", out)
		}
	}
	var listed []struct{ Serial string }
	if err := json.Unmarshal([]byte(mustRun(t, "certs list", local, "certs", "list", "--json")), &listed); err != nil || len(listed) != 3 {
		t.Fatalf("certs list --json: %v %v", listed, err)
	}
	for _, c := range listed {
		serials = append(serials, c.Serial)
	}

	ops := newCLI(t)
	t.Run("not logged in", func(t *testing.T) {
		_, errOut, code := ops.run("certs", "list", "--server", srv.HTTPSURL)
		if code == 0 || !strings.Contains(errOut, "vccpki login") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("login-info", func(t *testing.T) {
		// The login discovered the provider from the server.
		ops.login(srv.HTTPSURL, root, "ops", "ops-secret")
		b, _ := os.ReadFile(ops.credentials())
		var cr struct{ Issuer, Audience, Grant string }
		if err := json.Unmarshal(b, &cr); err != nil || cr.Issuer != idp.Issuer || cr.Audience != audience || cr.Grant != "client_credentials" {
			t.Fatalf("credentials %s: %v", b, err)
		}
	})
	remote := func(args ...string) (string, string, int) { return ops.run(append(args, "--server", srv.HTTPSURL)...) }
	// The stored login's server is used without --server too.
	stored := func(args ...string) (string, string, int) { return ops.run(args...) }

	t.Run("revoke", func(t *testing.T) {
		got := mustRun(t, "remote revoke", remote, "revoke", "--serial", serials[0], "--reason", "keyCompromise")
		want := mustRun(t, "local revoke", local, "revoke", "--serial", serials[1], "--reason", "keyCompromise")
		if got != strings.ReplaceAll(want, serials[1], serials[0]) {
			t.Errorf("remote %q, local %q", got, want)
		}
	})
	// The same rows after the revocations, table and JSON.
	for _, args := range [][]string{{"certs", "list"}, {"certs", "list", "--json"}, {"certs", "list", "--service", "argus", "--expiring", "3650d", "--all"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			want := mustRun(t, "local", local, args...)
			for name, run := range map[string]func(...string) (string, string, int){"--server": remote, "stored login": stored} {
				if got := mustRun(t, name, run, args...); got != want {
					t.Errorf("%s:\n%s\nlocal:\n%s", name, got, want)
				}
			}
		})
	}
	credTests := []struct {
		name string
		args []string
		want *regexp.Regexp
	}{
		{"eab create", []string{"eab", "create", "--service", "argus"}, regexp.MustCompile(`^kid=\S+\nhmac=[A-Za-z0-9_-]+\n$`)},
		{"eab create --json", []string{"eab", "create", "--service", "argus", "--json"}, regexp.MustCompile(`^\{"hmac":"[A-Za-z0-9_-]+","kid":"\S+","service":"argus"\}\n$`)},
		{"est user add", []string{"est", "user", "add", "--service", "argus", "--user", "dev-USER"}, regexp.MustCompile(`^user=dev-\w+\nservice=argus\npassword=\S{12,}\n$`)},
	}
	for _, tc := range credTests {
		t.Run(tc.name, func(t *testing.T) {
			for who, run := range map[string]func(...string) (string, string, int){"remote": remote, "local": local} {
				args := append([]string(nil), tc.args...)
				for i := range args {
					args[i] = strings.ReplaceAll(args[i], "USER", who)
				}
				if out := mustRun(t, who, run, args...); !tc.want.MatchString(out) {
					t.Errorf("%s: %q does not match %s", who, out, tc.want)
				}
			}
		})
	}
	t.Run("audit verify", func(t *testing.T) {
		want := regexp.MustCompile(`^audit log OK: \d+ entries, chain intact\nhead: \d+:[0-9a-f]{64}\n$`)
		for who, run := range map[string]func(...string) (string, string, int){"remote": remote, "local": local} {
			if out := mustRun(t, who, run, "audit", "verify"); !want.MatchString(out) {
				t.Errorf("%s: %q", who, out)
			}
		}
	})
	t.Run("audit export", func(t *testing.T) {
		want := mustRun(t, "local", local, "audit", "export", "--action", "revoke")
		got := mustRun(t, "remote", remote, "audit", "export", "--action", "revoke")
		if got != want || strings.Count(want, "\n") < 2 {
			t.Errorf("remote:\n%s\nlocal:\n%s", got, want)
		}
		// The API's calls name the token's subject; the local commands say local:.
		all := mustRun(t, "remote", remote, "audit", "export")
		if !strings.Contains(all, `"actor":"oidc:ops","action":"api.call","object":"POST /api/v1/certificates/`+serials[0]+`/revoke"`) {
			t.Errorf("no API entry of oidc:ops for the revocation in:\n%s", all)
		}
		if !strings.Contains(all, `"actor":"operator:api oidc:ops","action":"revoke","object":"`+serials[0]+`"`) {
			t.Errorf("the engine's entry of the remote revocation does not name oidc:ops in:\n%s", all)
		}
		// Local commands are marked as such.
		for _, re := range []string{`"actor":"local:[^"]+","action":"audit.export"`, `"actor":"operator:local:[^"]+","action":"revoke","object":"` + serials[1] + `"`} {
			if !regexp.MustCompile(re).MatchString(all) {
				t.Errorf("no entry matching %s in:\n%s", re, all)
			}
		}
	})
	t.Run("discover", func(t *testing.T) {
		type report struct {
			Services   json.RawMessage `json:"services"`
			NotCovered int             `json:"not_covered"`
		}
		var reps [2]report
		for i, run := range []func(...string) (string, string, int){local, remote} {
			out, errOut, code := run("discover", "--json")
			if code != 3 {
				t.Fatalf("discover: exit %d, want 3 (argus is not covered)\n%s%s", code, out, errOut)
			}
			if err := json.Unmarshal([]byte(out), &reps[i]); err != nil {
				t.Fatal(err)
			}
		}
		if string(reps[0].Services) != string(reps[1].Services) || reps[0].NotCovered != 1 || reps[1].NotCovered != 1 {
			t.Errorf("local %+v\nremote %+v", reps[0], reps[1])
		}
	})
	t.Run("reissue", func(t *testing.T) {
		// Through the API a reissue is dual control: requested, not done;
		// the requester cannot approve it, a second pki_admin does with
		// vccpki approvals approve, and only then is it done.
		out := mustRun(t, "remote", remote, "reissue", "--service", "argus")
		m := regexp.MustCompile(`^service argus: reissue requested \(superseded\), approval (apr-\S+) pending until \S+; a second pki_admin approves it with: vccpki approvals approve (apr-\S+)\n$`).FindStringSubmatch(out)
		if m == nil || m[1] != m[2] {
			t.Fatalf("%q", out)
		}
		id := m[1]
		_, errOut, code := remote("approvals", "approve", id)
		if code != 1 || errOut != "vccpki: the server refused (403 forbidden): you requested this act: another administrator must approve it (dual control)\n" {
			t.Fatalf("self-approval: exit %d %q", code, errOut)
		}
		if st := certStatus(t, local, serials[2]); st != "valid" {
			t.Fatalf("%s is %s before the approval", serials[2], st)
		}
		ops2 := newCLI(t)
		ops2.login(srv.HTTPSURL, root, "ops2", "ops2-secret")
		var pending []struct {
			ID, Action, Status string
			RequestedBy        string `json:"requested_by"`
		}
		if err := json.Unmarshal([]byte(mustRun(t, "approvals list", ops2.run, "approvals", "list", "--status", "pending", "--json")), &pending); err != nil ||
			len(pending) != 1 || pending[0].ID != id || pending[0].Action != "fleet.reissue" || pending[0].RequestedBy != "oidc:ops" {
			t.Fatalf("approvals list --json: %+v %v", pending, err)
		}
		table := mustRun(t, "approvals list", ops2.run, "approvals", "list")
		if !regexp.MustCompile(`(?m)^ID +ACTION +STATUS +REQUESTED BY +EXPIRES +DECIDED BY +PARAMS\n` + id + ` +fleet.reissue +pending +oidc:ops +\S+ +\{"service":"argus","reason":"superseded"\}\n$`).MatchString(table) {
			t.Errorf("approvals list:\n%s", table)
		}
		out = mustRun(t, "approvals approve", ops2.run, "approvals", "approve", id)
		if want := "approval " + id + " (fleet.reissue requested by oidc:ops): executed by oidc:ops2: ok: service argus: 1 certificates revoked (superseded)\n"; out != want {
			t.Errorf("approve: %q, want %q", out, want)
		}
		if st := certStatus(t, local, serials[2]); st != "revoked" {
			t.Errorf("%s is %s after the approval, want revoked", serials[2], st)
		}
		_, errOut, code = ops2.run("approvals", "approve", id)
		if code != 1 || errOut != "vccpki: the server refused (409 conflict): approval "+id+" is executed, not pending\n" {
			t.Errorf("approving twice: exit %d %q", code, errOut)
		}

		// A second request, withdrawn by its requester: it never runs.
		out = mustRun(t, "remote", remote, "reissue", "--service", "argus")
		id2 := regexp.MustCompile(`approval (apr-\S+) pending`).FindStringSubmatch(out)[1]
		out = mustRun(t, "approvals deny", remote, "approvals", "deny", id2)
		if want := "approval " + id2 + " (fleet.reissue requested by oidc:ops): denied by oidc:ops: withdrawn by its requester oidc:ops\n"; out != want {
			t.Errorf("deny: %q, want %q", out, want)
		}
		_, errOut, code = ops2.run("approvals", "approve", id2)
		if code != 1 || !strings.Contains(errOut, "approval "+id2+" is denied, not pending") {
			t.Errorf("approving a denied request: exit %d %q", code, errOut)
		}

		// Every step is audited with who did it.
		all := mustRun(t, "audit export", remote, "audit", "export")
		for _, re := range []string{
			`"actor":"oidc:ops","action":"approval.request","object":"` + id + `"`,
			`"actor":"oidc:ops","action":"api.call","object":"POST /api/v1/approvals/` + id + `","result":"refused[^"]*"`,
			`"actor":"oidc:ops2","action":"approval.approve","object":"` + id + `"`,
			`"actor":"oidc:ops2","action":"approval.execute","object":"` + id + `","result":"ok: service argus: 1 certificates revoked`,
			`"actor":"oidc:ops","action":"approval.deny","object":"` + id2 + `"`,
		} {
			if !regexp.MustCompile(re).MatchString(all) {
				t.Errorf("no audit entry matching %s", re)
			}
		}
	})
	t.Run("ca lifecycle and organisations", func(t *testing.T) {
		// Creating and rolling over a CA through the API are dual control:
		// ops files the request, ops2 approves it with the CLI; the
		// organisations' commands act at once. Remote and local print alike.
		ops2 := newCLI(t)
		ops2.login(srv.HTTPSURL, root, "ops2", "ops2-secret")
		requested := regexp.MustCompile(`, approval (apr-\S+) pending until \S+; a second pki_admin approves it with: vccpki approvals approve (apr-\S+)\n$`)
		approve := func(what, out string) string {
			t.Helper()
			m := requested.FindStringSubmatch(out)
			if !strings.HasPrefix(out, what+", approval ") || m == nil || m[1] != m[2] {
				t.Fatalf("%q: want %q and the approval to give", out, what)
			}
			return mustRun(t, "approvals approve", ops2.run, "approvals", "approve", m[1])
		}
		out := mustRun(t, "ca create", remote, "ca", "create", "--name", "ext-orgs", "--parent", "root", "--path-len", "1")
		if list := mustRun(t, "ca list", remote, "ca", "list"); strings.Contains(list, "ext-orgs") {
			t.Fatalf("before approval:\n%s", list)
		}
		if got := approve("CA ext-orgs below root: creation requested", out); !strings.Contains(got, ": executed by oidc:ops2: ok: CA ext-orgs below root created (serial ") {
			t.Fatalf("approve: %q", got)
		}
		out = mustRun(t, "ca rollover", remote, "ca", "rollover", "--name", "services")
		if got := approve("CA services: rollover requested", out); !strings.Contains(got, ": executed by oidc:ops2: ok: CA services rolled over: new key") {
			t.Fatalf("approve: %q", got)
		}
		want := mustRun(t, "local ca list", local, "ca", "list")
		if got := mustRun(t, "remote ca list", remote, "ca", "list"); got != want ||
			!regexp.MustCompile(`(?m)^ext-orgs +intermediate +root +1 +valid `).MatchString(got) || !regexp.MustCompile(`(?m)^services +intermediate +root +2 +valid `).MatchString(got) {
			t.Fatalf("remote ca list:\n%s\nlocal:\n%s", got, want)
		}
		got := mustRun(t, "remote org create", remote, "org", "create", "--name", "partner", "--display", "A partner")
		if want := mustRun(t, "local org create", local, "org", "create", "--name", "partner2", "--display", "A partner"); got != strings.ReplaceAll(want, "partner2", "partner") {
			t.Errorf("org create: remote %q, local %q", got, want)
		}
		if got := mustRun(t, "remote org add-ca", remote, "org", "add-ca", "--org", "partner", "--ca", "ext-orgs"); got != "organisation=partner\nca=ext-orgs\n" {
			t.Errorf("org add-ca: %q", got)
		}
		for _, args := range [][]string{{"org", "show", "partner"}, {"org", "list"}, {"org", "list", "--json"}} {
			got, want := mustRun(t, "remote", remote, args...), mustRun(t, "local", local, args...)
			if got != want || !strings.Contains(got, "ext-orgs") {
				t.Errorf("%s: remote\n%s\nlocal\n%s", strings.Join(args, " "), got, want)
			}
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		viewer := newCLI(t)
		viewer.login(srv.HTTPSURL, root, "viewer", "viewer-secret")
		out, errOut, code := viewer.run("revoke", "--serial", serials[2], "--server", srv.HTTPSURL)
		if code == 0 || !strings.Contains(errOut, "403 forbidden") || !strings.Contains(errOut, "cert:revoke") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		b, _ := os.ReadFile(ops.credentials())
		var cr map[string]any
		if err := json.Unmarshal(b, &cr); err != nil {
			t.Fatal(err)
		}
		cr["access_token"], cr["expiry"] = "expired", "2020-01-01T00:00:00Z"
		write := func() {
			b, _ := json.Marshal(cr)
			if err := os.WriteFile(ops.credentials(), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write()
		// Client credentials: renewed with the secret file.
		mustRun(t, "renewed", remote, "audit", "verify")
		b, _ = os.ReadFile(ops.credentials())
		if strings.Contains(string(b), `"access_token": "expired"`) {
			t.Errorf("the renewed token was not saved")
		}
		// A person's login without a refresh token: log in again.
		cr["grant"], cr["refresh_token"] = "device_code", ""
		write()
		_, errOut, code := remote("certs", "list")
		if code == 0 || !strings.Contains(errOut, "run vccpki login again") {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
	t.Run("logout", func(t *testing.T) {
		mustRun(t, "logout", ops.run, "logout")
		if _, err := os.Stat(ops.credentials()); !os.IsNotExist(err) {
			t.Fatalf("credentials still there: %v", err)
		}
		_, errOut, code := remote("certs", "list")
		if code == 0 || !strings.Contains(errOut, "vccpki login") {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
}
