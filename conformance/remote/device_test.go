package remote

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/conformance/harness/oidcop"
)

// deviceLogin is a running `vccpki login` (device flow) whose stdout is
// read as it comes.
type deviceLogin struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line; closed at its end
	stdout strings.Builder
	stderr harness.SyncBuffer
}

func (c *cli) startDeviceLogin(server, root string) *deviceLogin {
	c.t.Helper()
	d := &deviceLogin{cmd: exec.Command(harness.Binary(c.t), "login", "--server", server, "--ca", root), lines: make(chan string)}
	d.cmd.Env = append(append(os.Environ(), c.env...), "VCCPKI_CONFIG=")
	d.cmd.Stderr = &d.stderr
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
	}()
	c.t.Cleanup(func() { _ = d.cmd.Process.Kill() })
	return d
}

var (
	promptRe = regexp.MustCompile(`^To log in, open (\S+)$`)
	codeRe   = regexp.MustCompile(`^\(or open (\S+) and enter the code (\S+)\)$`)
)

// prompt reads what the CLI tells the person (RFC 8628 §3.3): the
// verification URI with and without the code, and the user code.
func (d *deviceLogin) prompt(t *testing.T) (complete, uri, code string) {
	t.Helper()
	for line := range d.lines {
		d.stdout.WriteString(line + "\n")
		if m := promptRe.FindStringSubmatch(line); m != nil {
			complete = m[1]
		}
		if m := codeRe.FindStringSubmatch(line); m != nil {
			uri, code = m[1], m[2]
		}
		if strings.HasPrefix(line, "Waiting for you to approve") {
			break
		}
	}
	if complete == "" || code == "" || complete != uri+"?user_code="+code {
		t.Fatalf("no verification URI and user code in:\n%s\nstderr: %s", d.stdout.String(), d.stderr.String())
	}
	return complete, uri, code
}

// wait returns the rest of stdout, stderr and the exit code.
func (d *deviceLogin) wait(t *testing.T) (string, string, int) {
	t.Helper()
	for line := range d.lines {
		d.stdout.WriteString(line + "\n")
	}
	err := d.cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return d.stdout.String(), d.stderr.String(), code
}

// jwtClaims decodes a JWT's payload (its signature is the server's to
// check, which the API calls after the login do).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("the access token is not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		t.Fatalf("the access token's claims: %v", err)
	}
	return c
}

// TestDeviceLogin: vccpki login's device authorization grant (RFC 8628)
// end to end against a real provider (zitadel/oidc's pkg/op with its
// example device pages): the person, played by the test over HTTP,
// approves, refuses, or lets the code expire.
func TestDeviceLogin(t *testing.T) {
	const cliID = "vccpki-cli"
	idp := oidcop.Start(t, oidcop.Options{ClientID: cliID, Audience: audience, Users: map[string][]string{"alice": {"pki_admin", "auditor"}, "bob": {"auditor"}}})
	dir := t.TempDir()
	services := filepath.Join(dir, "services.yaml")
	if err := os.WriteFile(services, []byte("services:\n  - name: argus\n    protocol: acme\n    endpoints:\n      - {address: \"127.0.0.1:1\", sni: argus.vcc.internal}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, data := harness.Config(t, "api:\n  auth:\n    oidc:\n      issuer: "+idp.Issuer+"\n      audience: "+audience+"\n      cli_client_id: "+cliID+"\n      allow_jwt_typ: true\n"+
		"fleet:\n  services: "+services+"\n")
	srv := harness.StartServer(t, cfg)
	root := filepath.Join(data, "root.pem")
	local := func(args ...string) (string, string, int) { return harness.Run(t, append(args, "--config", cfg)...) }
	mustRun(t, "issue", local, "issue", "--profile", "argus", "--csr", harness.WriteCSR(t, t.TempDir(), "", "a.argus.test"))

	t.Run("approved", func(t *testing.T) {
		alice := newCLI(t)
		login := alice.startDeviceLogin(srv.HTTPSURL, root)
		complete, uri, _ := login.prompt(t)
		if !strings.HasPrefix(uri, idp.Issuer+"/") {
			t.Errorf("verification URI %s is not the provider's (%s)", uri, idp.Issuer)
		}
		idp.Approve(t, complete, "alice")
		out, errOut, code := login.wait(t)
		if code != 0 || !strings.Contains(out, "logged in to "+srv.HTTPSURL+" as client "+cliID+" (device code)") {
			t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
		}
		fi, err := os.Stat(alice.credentials())
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("credentials file: %v %v", fi, err)
		}
		b, _ := os.ReadFile(alice.credentials())
		var cr struct {
			Server, Issuer, Grant string
			ClientID              string `json:"client_id"`
			AccessToken           string `json:"access_token"`
		}
		if err := json.Unmarshal(b, &cr); err != nil || cr.Server != srv.HTTPSURL || cr.Issuer != idp.Issuer || cr.ClientID != cliID || cr.Grant != "device_code" {
			t.Fatalf("credentials %s: %v", b, err)
		}
		// An RFC 9068 access token for the API (§2.2).
		c := jwtClaims(t, cr.AccessToken)
		aud, _ := c["aud"].([]any)
		roles, _ := c["realm_access"].(map[string]any)["roles"].([]any)
		if c["iss"] != idp.Issuer || c["sub"] != oidcop.SubjectOf("alice") || !slices.Contains(aud, any(audience)) || c["exp"] == nil || c["client_id"] != cliID || len(roles) != 2 {
			t.Errorf("access token claims %v", c)
		}

		remote := func(args ...string) (string, string, int) {
			return alice.run(append(args, "--server", srv.HTTPSURL)...)
		}
		for _, args := range [][]string{{"certs", "list"}, {"certs", "list", "--json"}} {
			if got, want := mustRun(t, "remote", remote, args...), mustRun(t, "local", local, args...); got != want {
				t.Errorf("%s: remote\n%s\nlocal\n%s", args, got, want)
			}
		}
		// The audit log names the person: sub and preferred_username.
		all := mustRun(t, "audit export", remote, "audit", "export")
		re := regexp.MustCompile(`"actor":"oidc:` + oidcop.SubjectOf("alice") + ` \(alice\)","action":"api.call","object":"GET /api/v1/certificates","result":"ok`)
		if !re.MatchString(all) {
			t.Errorf("no audit entry matching %s in:\n%s", re, all)
		}
	})
	t.Run("role from the token", func(t *testing.T) {
		bob := newCLI(t)
		login := bob.startDeviceLogin(srv.HTTPSURL, root)
		complete, _, _ := login.prompt(t)
		idp.Approve(t, complete, "bob")
		if out, errOut, code := login.wait(t); code != 0 {
			t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
		}
		mustRun(t, "certs list", bob.run, "certs", "list", "--server", srv.HTTPSURL)
		var rows []struct{ Serial string }
		if err := json.Unmarshal([]byte(mustRun(t, "certs list", local, "certs", "list", "--json")), &rows); err != nil || len(rows) == 0 {
			t.Fatalf("certs list: %v %v", rows, err)
		}
		out, errOut, code := bob.run("revoke", "--serial", rows[0].Serial, "--server", srv.HTTPSURL)
		if code == 0 || !strings.Contains(errOut, "403 forbidden") || !strings.Contains(errOut, "cert:revoke") {
			t.Fatalf("an auditor's revoke: exit %d\n%s%s", code, out, errOut)
		}
	})
	// RFC 8628 §3.5: after slow_down the client adds 5 s to its interval
	// (the example server's is 5 s) "for this and all subsequent requests".
	t.Run("slow_down", func(t *testing.T) {
		c := newCLI(t)
		before := len(idp.Polls())
		idp.SlowDown(1)
		defer idp.SlowDown(0)
		login := c.startDeviceLogin(srv.HTTPSURL, root)
		complete, _, _ := login.prompt(t)
		// Approve once the slowed poll has been answered: the next one
		// gets the token.
		harness.Eventually(t, time.Minute, "the first poll", func() bool { return len(idp.Polls()) > before })
		idp.Approve(t, complete, "alice")
		if out, errOut, code := login.wait(t); code != 0 {
			t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
		}
		polls := idp.Polls()[before:]
		if len(polls) != 2 {
			t.Fatalf("%d polls, want 2 (slow_down, then the token)", len(polls))
		}
		// A lower bound only: polling later is never wrong.
		if gap := polls[1].Sub(polls[0]); gap < 10*time.Second {
			t.Errorf("polled again %v after slow_down, want at least 10s", gap)
		}
	})
	refusals := []struct {
		name     string
		lifetime time.Duration // of the device code; 0: the provider's
		act      func(t *testing.T, complete string)
		want     string
	}{
		{"denied", 0, func(t *testing.T, complete string) { idp.Deny(t, complete, "alice") }, "the login was refused at the identity provider (access_denied: "},
		// Nobody approves: the provider answers the poll after the code's
		// end with expired_token.
		{"code expired", time.Second, func(*testing.T, string) {}, "the code expired before the login was approved: run vccpki login again (expired_token: "},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			idp.SetCodeLifetime(tc.lifetime)
			defer idp.SetCodeLifetime(0)
			c := newCLI(t)
			login := c.startDeviceLogin(srv.HTTPSURL, root)
			complete, _, _ := login.prompt(t)
			tc.act(t, complete)
			out, errOut, code := login.wait(t)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want an error naming %s\n%s%s", code, tc.want, out, errOut)
			}
			if _, err := os.Stat(c.credentials()); !os.IsNotExist(err) {
				t.Errorf("a refused login stored credentials: %v", err)
			}
			t.Logf("%s: %s", tc.name, strings.TrimSpace(errOut))
		})
	}
}
