package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServe starts the real binary on free ports and checks what it
// serves, that admin commands work while it runs, and that SIGTERM stops
// it cleanly.
func TestServe(t *testing.T) {
	cfg, data := testConfig(t, "")
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
	exited := make(chan error, 1)
	t.Cleanup(func() { cmd.Process.Kill() })

	// The banner names the URLs really bound and the root's path.
	var banner strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "root certificate:") {
			break
		}
	}
	go func() { io.Copy(io.Discard, stdout); exited <- cmd.Wait() }()
	httpsURL := regexp.MustCompile(`HTTPS:\s+(https://\S+)`).FindStringSubmatch(banner.String())
	httpURL := regexp.MustCompile(`HTTP:\s+(http://\S+)`).FindStringSubmatch(banner.String())
	if httpsURL == nil || httpURL == nil || !strings.Contains(banner.String(), filepath.Join(data, "root.pem")) {
		t.Fatalf("banner:\n%s\nstderr:\n%s", banner.String(), stderr.String())
	}

	// A client that trusts only root.pem verifies the HTTPS chain.
	rootPEM, err := os.ReadFile(filepath.Join(data, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	rootDER := parsePEMCerts(t, string(rootPEM))[0].Raw

	for _, tc := range []struct {
		name   string
		url    string
		status int
		ctype  string
		body   []byte
	}{
		{"healthz over HTTPS", httpsURL[1] + "/healthz", 200, "text/plain", []byte("ok\n")},
		{"healthz over HTTP", httpURL[1] + "/healthz", 200, "text/plain", []byte("ok\n")},
		{"root DER", httpURL[1] + "/ca/root.crt", 200, "application/pkix-cert", rootDER},
		{"root PEM", httpURL[1] + "/root.pem", 200, "application/x-pem-file", rootPEM},
		{"issuing CA", httpURL[1] + "/ca/services.crt", 200, "application/pkix-cert", nil},
		{"code signing CA over HTTPS", httpsURL[1] + "/ca/code-signing.crt", 200, "application/pkix-cert", nil},
		{"not a CA", httpURL[1] + "/ca/tsa.crt", 404, "text/plain", nil},
		{"unknown CA", httpURL[1] + "/ca/nope.crt", 404, "text/plain", nil},
		{"metrics", httpURL[1] + "/metrics", 200, "text/plain", []byte("vccpki_issuance_seconds")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Errorf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if tc.body != nil && !bytes.Contains(body, tc.body) {
				t.Errorf("body does not contain %q", tc.body)
			}
		})
	}

	// Admin commands work while the server holds the store.
	dir := t.TempDir()
	if _, errOut, code := run(t, "issue", "--config", cfg, "--profile", "clara", "--csr", writeCSR(t, dir, "", "api.clara.test")); code != 0 {
		t.Errorf("issue while serving: %s", errOut)
	}
	if out, errOut, code := run(t, "certs", "list", "--config", cfg); code != 0 || !strings.Contains(out, "api.clara.test") {
		t.Errorf("certs list while serving: %s %s", out, errOut)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop within 30s of SIGTERM")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if out, errOut, code := run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Errorf("audit verify: %s %s", out, errOut)
	}
}
