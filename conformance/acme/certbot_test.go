package acme_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/conformance/harness"
)

// opensslVerify checks a certificate against the test root with openssl.
func (e *env) opensslVerify(t *testing.T, certPath, chainPath string) {
	t.Helper()
	harness.Tool(t, "openssl")
	args := []string{"verify", "-CAfile", e.RootPath}
	if chainPath != "" {
		args = append(args, "-untrusted", chainPath)
	}
	out, err := exec.Command("openssl", append(args, certPath)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify %s: %v\n%s", certPath, err, out)
	}
}

// TestCertbot runs Debian's certbot against the server: certonly with its
// standalone http-01 server on the validator's loopback port, renew
// --force-renewal and revoke.
func TestCertbot(t *testing.T) {
	certbot := harness.Tool(t, "certbot")
	e := testEnv
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		common := []string{"--non-interactive", "--config-dir", filepath.Join(dir, "config"), "--work-dir", filepath.Join(dir, "work"),
			"--logs-dir", filepath.Join(dir, "logs")}
		cmd := exec.Command(certbot, append(args, common...)...)
		cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+e.RootPath)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("certbot %s took %v", args[0], time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("certbot %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const name = "certbot.test"
	live := filepath.Join(dir, "config", "live", name)
	run("certonly", "--server", e.DirURL, "--standalone", "--http-01-address", "127.0.0.1",
		"--http-01-port", strconv.Itoa(e.HTTPPort), "-d", name, "--agree-tos", "--register-unsafely-without-email")
	e.opensslVerify(t, filepath.Join(live, "cert.pem"), filepath.Join(live, "chain.pem"))
	first, err := os.ReadFile(filepath.Join(live, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}

	run("renew", "--force-renewal", "--no-random-sleep-on-renew")
	e.opensslVerify(t, filepath.Join(live, "cert.pem"), filepath.Join(live, "chain.pem"))
	second, err := os.ReadFile(filepath.Join(live, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if string(first) == string(second) {
		t.Fatal("renew --force-renewal left the same certificate")
	}

	run("revoke", "--server", e.DirURL, "--cert-path", filepath.Join(live, "cert.pem"), "--reason", "keycompromise", "--no-delete-after-revoke")
	leaf := acmetest.LeafOf(t, second)
	info, err := e.Engine.Certificate(t.Context(), leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	if info.RevokedAt.IsZero() {
		t.Fatal("certbot revoke succeeded but the engine does not show the certificate revoked")
	}
}
