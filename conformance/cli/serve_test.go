package cli_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestServe starts the real binary on free ports and checks what it
// serves, that admin commands work while it runs, and that SIGTERM stops
// it cleanly.
func TestServe(t *testing.T) {
	t.Parallel()
	cfg, data := harness.Config(t, "")
	srv := harness.StartServer(t, cfg)
	// The banner names the URLs really bound and the root's path.
	if !strings.Contains(srv.Banner, filepath.Join(data, "root.pem")) {
		t.Fatalf("banner:\n%s\nstderr:\n%s", srv.Banner, srv.Stderr)
	}

	// A client that trusts only root.pem verifies the HTTPS chain.
	rootPEM, err := os.ReadFile(filepath.Join(data, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	rootDER := harness.ParsePEMCerts(t, string(rootPEM))[0].Raw

	for _, tc := range []struct {
		name   string
		url    string
		status int
		ctype  string
		body   []byte
	}{
		{"healthz over HTTPS", srv.HTTPSURL + "/healthz", 200, "text/plain", []byte("ok\n")},
		{"healthz over HTTP", srv.HTTPURL + "/healthz", 200, "text/plain", []byte("ok\n")},
		{"root DER", srv.HTTPURL + "/ca/root.crt", 200, "application/pkix-cert", rootDER},
		{"root PEM", srv.HTTPURL + "/root.pem", 200, "application/x-pem-file", rootPEM},
		{"issuing CA", srv.HTTPURL + "/ca/services.crt", 200, "application/pkix-cert", nil},
		{"code signing CA over HTTPS", srv.HTTPSURL + "/ca/code-signing.crt", 200, "application/pkix-cert", nil},
		{"not a CA", srv.HTTPURL + "/ca/tsa.crt", 404, "text/plain", nil},
		{"unknown CA", srv.HTTPURL + "/ca/nope.crt", 404, "text/plain", nil},
		{"13.14 metrics on their own listener", srv.Metrics, 200, "text/plain", []byte("vccpki_issuance_seconds")},
		{"13.14 no metrics on the HTTP listener", srv.HTTPURL + "/metrics", 404, "text/plain", nil},
		{"13.14 no metrics on the HTTPS listener", srv.HTTPSURL + "/metrics", 404, "text/plain", nil},
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
	if _, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", "clara", "--csr", harness.WriteCSR(t, dir, "", "api.clara.test")); code != 0 {
		t.Errorf("issue while serving: %s", errOut)
	}
	if out, errOut, code := harness.Run(t, "certs", "list", "--config", cfg); code != 0 || !strings.Contains(out, "api.clara.test") {
		t.Errorf("certs list while serving: %s %s", out, errOut)
	}

	srv.Stop(t)
	if !strings.Contains(srv.Stderr.String(), "stopped") {
		t.Errorf("stderr:\n%s", srv.Stderr)
	}
	if out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Errorf("audit verify: %s %s", out, errOut)
	}
}
