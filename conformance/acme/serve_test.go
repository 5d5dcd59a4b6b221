package acme_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestServeACMEWithLegoCLI runs `vccpki serve` with the --va-* flags
// pointing at a fake DNS and loopback ports, creates an EAB key with
// `vccpki eab create`, and drives the lego binary through run, renew
// (which asks ARI) and revoke.
func TestServeACMEWithLegoCLI(t *testing.T) {
	lego := harness.Lego(t)
	harness.Tool(t, "openssl")
	t.Parallel()
	_, dnsAddr := harness.FakeDNS(t)
	httpPort, tlsPort := harness.FreePort(t), harness.FreePort(t)

	cfg, data := harness.Config(t, "")
	srv := harness.StartServer(t, cfg, "--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort), "--va-tls-port", strconv.Itoa(tlsPort))
	httpsURL, httpURL := srv.HTTPSURL, srv.HTTPURL
	if srv.BannerURL(t, "ACME directory") != httpsURL+"/acme/directory" {
		t.Fatalf("banner:\n%s", srv.Banner)
	}
	rootPath := filepath.Join(data, "root.pem")
	rootPEM, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	t.Run("directory over HTTPS only", func(t *testing.T) {
		for _, tc := range []struct {
			url    string
			status int
		}{{httpsURL + "/acme/directory", 200}, {httpURL + "/acme/directory", 404}} {
			resp, err := client.Get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("GET %s: %d, want %d\n%s", tc.url, resp.StatusCode, tc.status, body)
			}
			if tc.status == 200 && !bytes.Contains(body, []byte(httpsURL+"/acme/new-order")) {
				t.Errorf("directory does not use the URL the client used:\n%s", body)
			}
		}
	})

	out, errOut, code := harness.Run(t, "eab", "create", "--config", cfg, "--service", "argus", "--json")
	var eab struct{ KID, HMAC, Service string }
	if code != 0 || json.Unmarshal([]byte(out), &eab) != nil || eab.KID == "" || eab.HMAC == "" || eab.Service != "argus" {
		t.Fatalf("eab create --json: %d %q %s", code, out, errOut)
	}
	// The store keeps the HMAC key sealed (acme.SecretBox), never as given.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	err = db.QueryRow(`SELECT hmac FROM acme_eab_keys WHERE key_id = ?`, eab.KID).Scan(&stored)
	db.Close()
	rawHMAC, _ := base64.RawURLEncoding.DecodeString(eab.HMAC)
	if err != nil || !bytes.HasPrefix(stored, []byte("vccpki-hpke1:")) || len(rawHMAC) != 32 || bytes.Contains(stored, rawHMAC) {
		t.Fatalf("the EAB key is not stored sealed: %q, %v", stored, err)
	}
	if out, _, code := harness.Run(t, "eab", "create", "--config", cfg, "--service", "argus"); code != 0 || !regexp.MustCompile(`^kid=kid-\S+\nhmac=\S+\n$`).MatchString(out) {
		t.Fatalf("eab create: %d %q", code, out)
	}
	if _, errOut, code := harness.Run(t, "eab", "create", "--config", cfg, "--service", "vpb"); code != 2 || !strings.Contains(errOut, "open to ACME") {
		t.Fatalf("eab create for an EST-only profile: %d %s", code, errOut)
	}

	legoDir := t.TempDir()
	const domain = "cli.argus.test"
	// lego1 runs "lego [globals] command [args]".
	lego1 := func(globals []string, command string, args ...string) string {
		t.Helper()
		full := append([]string{"--server", httpsURL + "/acme/directory", "--accept-tos", "--email", "ops@vcc.example",
			"--path", legoDir, "--domains", domain, "--http", "--http.port", "127.0.0.1:" + strconv.Itoa(httpPort)}, globals...)
		full = append(append(full, command), args...)
		cmd := exec.Command(lego, full...)
		cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+rootPath)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("lego %s took %v", command, time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("lego %s %v: %v\n%s", command, args, err, out)
		}
		return string(out)
	}
	crt := filepath.Join(legoDir, "certificates", domain+".crt")
	issuer := filepath.Join(legoDir, "certificates", domain+".issuer.crt")
	verify := func() []byte {
		t.Helper()
		out, err := exec.Command("openssl", "verify", "-CAfile", rootPath, "-untrusted", issuer, crt).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": OK") {
			t.Fatalf("openssl verify: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(crt)
		return b
	}

	lego1([]string{"--eab", "--kid", eab.KID, "--hmac", eab.HMAC}, "run", "--profile", "argus")
	first := verify()

	// tls-alpn-01 on the --va-tls-port, with lego's own responder.
	alpnDir := t.TempDir()
	cmd := exec.Command(lego, "--server", httpsURL+"/acme/directory", "--accept-tos", "--email", "ops@vcc.example",
		"--path", alpnDir, "--domains", "alpn-cli.test", "--tls", "--tls.port", "127.0.0.1:"+strconv.Itoa(tlsPort), "run")
	cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+rootPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lego --tls run: %v\n%s", err, out)
	}

	// ARI says "not yet" for a new certificate; --days 30 on a one-week
	// certificate renews it anyway, as a replacement (RFC 9773 §5).
	out = lego1(nil, "renew", "--days", "30", "--no-random-sleep")
	if !strings.Contains(out, "renewalInfo endpoint indicates that renewal is not needed") {
		t.Errorf("lego renew did not consult ARI:\n%s", out)
	}
	second := verify()
	if bytes.Equal(first, second) {
		t.Fatal("renew left the same certificate")
	}

	// After revocation ARI says "renew now", whatever --days says.
	lego1(nil, "revoke", "--keep")
	out = lego1(nil, "renew", "--days", "0", "--no-random-sleep")
	if !strings.Contains(out, "renewalInfo endpoint indicates that renewal is needed") {
		t.Errorf("lego renew after revocation did not follow ARI:\n%s", out)
	}
	if third := verify(); bytes.Equal(third, second) {
		t.Fatal("renew after revocation left the revoked certificate")
	}

	// Withdrawing the EAB key revokes the account it bound: lego's next
	// order is refused.
	if out, errOut, code := harness.Run(t, "eab", "revoke", "--config", cfg, "--kid", eab.KID); code != 0 || !strings.Contains(out, "is revoked") {
		t.Fatalf("eab revoke: %d %s %s", code, out, errOut)
	}
	cmd = exec.Command(lego, "--server", httpsURL+"/acme/directory", "--accept-tos", "--email", "ops@vcc.example",
		"--path", legoDir, "--domains", domain, "--http", "--http.port", "127.0.0.1:"+strconv.Itoa(httpPort), "renew", "--days", "365", "--no-random-sleep")
	cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+rootPath)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "urn:ietf:params:acme:error:unauthorized") {
		t.Fatalf("lego renew with a revoked account: %v\n%s", err, out)
	}
}
