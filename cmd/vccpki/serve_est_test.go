package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServer runs `vccpki serve` on free ports and returns the HTTPS and
// HTTP base URLs. The server is killed when the test ends.
func startServer(t *testing.T, cfg string) (string, string) {
	t.Helper()
	cmd := exec.Command(vccpkiBin, "serve", "--config", cfg, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+testPassphrase)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var banner strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "root certificate:") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	httpsURL := regexp.MustCompile(`HTTPS:\s+(https://\S+)`).FindStringSubmatch(banner.String())
	httpURL := regexp.MustCompile(`HTTP:\s+(http://\S+)`).FindStringSubmatch(banner.String())
	if httpsURL == nil || httpURL == nil || !strings.Contains(banner.String(), "EST              "+httpsURL[1]+"/.well-known/est/") {
		t.Fatalf("banner:\n%s\nstderr:\n%s", banner.String(), stderr.String())
	}
	return httpsURL[1], httpURL[1]
}

// TestESTReadme runs the README's curl and openssl enrolment, exactly as
// written there, against the real server, and checks that EST is not
// reachable over plain HTTP.
func TestESTReadme(t *testing.T) {
	for _, tool := range []string{"curl", "openssl", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for this test: apt-get install %s", tool, tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- est-curl-begin -->\n```sh\n(.*?)```\n<!-- est-curl-end -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no est-curl block")
	}
	cfg, data := testConfig(t, "")
	httpsURL, httpURL := startServer(t, cfg)

	dir := t.TempDir()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", string(m[1]))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+testPassphrase, "VCCPKI_CONFIG=",
		"EST="+httpsURL+"/.well-known/est/argus", "ROOT="+filepath.Join(data, "root.pem"), "VCCPKI="+vccpkiBin, "CONFIG="+cfg)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "host1.pem: OK") {
		t.Fatalf("README commands: %v\n%s", err, out)
	}
	pemOut, err := os.ReadFile(filepath.Join(dir, "host1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if certs := parsePEMCerts(t, string(pemOut)); len(certs) != 1 || certs[0].DNSNames[0] != "host1.argus.test" {
		t.Errorf("host1.pem holds %d certificates", len(certs))
	}

	// EST is HTTPS-only (RFC 7030 §3.3); over HTTP it does not exist.
	resp, err := http.Get(httpURL + "/.well-known/est/cacerts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("EST over plain HTTP: %d; want 404", resp.StatusCode)
	}
	// And over HTTPS it answers without a client certificate.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // status only
	resp, err = c.Get(httpsURL + "/.well-known/est/cacerts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("cacerts over HTTPS: %d", resp.StatusCode)
	}
}

// TestESTUserAdd: the admin command's refusals, and a password from
// standard input.
func TestESTUserAdd(t *testing.T) {
	cfg, _ := testConfig(t, "")
	out, errOut, code := run(t, "est", "user", "add", "--config", cfg, "--service", "argus", "--user", "a1")
	if code != 0 || !regexp.MustCompile(`(?m)^password=[A-Za-z0-9_-]{22}$`).MatchString(out) {
		t.Fatalf("est user add: exit %d\n%s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"duplicate", []string{"--service", "argus", "--user", "a1"}, `EST user "a1" exists`},
		{"unknown service", []string{"--service", "nope", "--user", "a2"}, `no profile "nope"`},
		{"colon in the name", []string{"--service", "argus", "--user", "a:b"}, "must not contain a colon"},
		{"missing flags", []string{"--service", "argus"}, "needs --service and --user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, append([]string{"est", "user", "add", "--config", cfg}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d, stderr %q; want 2 with %q", code, errOut, tc.msg)
			}
		})
	}
	cmd := exec.Command(vccpkiBin, "est", "user", "add", "--config", cfg, "--service", "vpb", "--user", "d1", "--password-stdin")
	cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+testPassphrase)
	cmd.Stdin = strings.NewReader("a password of my own\n")
	b, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(b), "password=") {
		t.Errorf("--password-stdin: %v\n%s", err, b)
	}
	if out, errOut, code := run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Errorf("audit verify: %s %s", out, errOut)
	}
}
