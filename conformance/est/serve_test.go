package est_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestESTReadme runs the README's curl and openssl enrolment, exactly as
// written there, against the real server, and checks that EST is not
// reachable over plain HTTP.
func TestESTReadme(t *testing.T) {
	for _, tool := range []string{"curl", "openssl", "bash"} {
		harness.Tool(t, tool)
	}
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- est-curl-begin -->\n```sh\n(.*?)```\n<!-- est-curl-end -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no est-curl block")
	}
	cfg, data := harness.Config(t, "")
	srv := harness.StartServer(t, cfg)
	httpsURL, httpURL := srv.HTTPSURL, srv.HTTPURL
	if srv.BannerURL(t, "EST") != httpsURL+"/.well-known/est/[<profile>/]{cacerts,csrattrs,simpleenroll,simplereenroll,serverkeygen}" {
		t.Fatalf("banner:\n%s", srv.Banner)
	}

	dir := t.TempDir()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", string(m[1]))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+harness.Passphrase, "VCCPKI_CONFIG=",
		"EST="+httpsURL+"/.well-known/est/argus", "ROOT="+filepath.Join(data, "root.pem"), "VCCPKI="+harness.Binary(t), "CONFIG="+cfg)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "host1.pem: OK") {
		t.Fatalf("README commands: %v\n%s", err, out)
	}
	pemOut, err := os.ReadFile(filepath.Join(dir, "host1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if certs := harness.ParsePEMCerts(t, string(pemOut)); len(certs) != 1 || certs[0].DNSNames[0] != "host1.argus.test" {
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
	t.Parallel()
	cfg, _ := harness.Config(t, "")
	out, errOut, code := harness.Run(t, "est", "user", "add", "--config", cfg, "--service", "argus", "--user", "a1")
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
			_, errOut, code := harness.Run(t, append([]string{"est", "user", "add", "--config", cfg}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d, stderr %q; want 2 with %q", code, errOut, tc.msg)
			}
		})
	}
	cmd := exec.Command(harness.Binary(t), "est", "user", "add", "--config", cfg, "--service", "vpb", "--user", "d1", "--password-stdin")
	cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+harness.Passphrase)
	cmd.Stdin = strings.NewReader("a password of my own\n")
	b, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(b), "password=") {
		t.Errorf("--password-stdin: %v\n%s", err, b)
	}
	if out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Errorf("audit verify: %s %s", out, errOut)
	}
}

// TestESTBootstrapConfig: a bootstrap CA from the configuration lets its
// devices enrol in the profile it is bound to (with curl presenting the
// device certificate), and a binding to a profile that does not accept
// bootstrap certificates stops the server at start.
func TestESTBootstrapConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Factory CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	devKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	devTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "device-7"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	devDER, _ := x509.CreateCertificate(rand.Reader, devTmpl, caCert, devKey.Public(), caKey)
	devKeyDER, _ := x509.MarshalPKCS8PrivateKey(devKey)
	write := func(name string, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("factory.pem", "CERTIFICATE", caDER)
	devCert, devKeyFile := write("dev.pem", "CERTIFICATE", devDER), write("dev.key", "PRIVATE KEY", devKeyDER)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"device-7.vpb.test"}}, devKey)
	csrFile := filepath.Join(dir, "csr.b64")
	if err := os.WriteFile(csrFile, []byte(base64.StdEncoding.EncodeToString(csrDER)), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg, data := harness.Config(t, "est:\n  bootstrap:\n    - {name: factory, ca_file: "+caFile+", profiles: [vpb], identity: cn, names: ['{id}.vpb.test']}\n")
	httpsURL := harness.StartServer(t, cfg).HTTPSURL
	out, err := exec.Command("curl", "-sS", "--cacert", filepath.Join(data, "root.pem"), "--cert", devCert, "--key", devKeyFile,
		"-H", "Content-Type: application/pkcs10", "--data-binary", "@"+csrFile, "-w", "\n%{http_code}",
		httpsURL+"/.well-known/est/vpb/simpleenroll").CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "200") {
		t.Fatalf("device enrolment with its factory certificate: %v\n%s", err, out)
	}

	// 13.1: the device's identity bounds its names; another is refused.
	otherCSR := filepath.Join(dir, "other.b64")
	otherDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"device-8.vpb.test"}}, devKey)
	if err := os.WriteFile(otherCSR, []byte(base64.StdEncoding.EncodeToString(otherDER)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command("curl", "-sS", "--cacert", filepath.Join(data, "root.pem"), "--cert", devCert, "--key", devKeyFile,
		"-H", "Content-Type: application/pkcs10", "--data-binary", "@"+otherCSR, "-w", "\n%{http_code}",
		httpsURL+"/.well-known/est/vpb/simpleenroll").CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "403") || !strings.Contains(string(out), "device-8.vpb.test") {
		t.Errorf("13.1 a device asking for another device's name: %v\n%s", err, out)
	}

	for _, tc := range []struct{ entry, msg string }{
		{"profiles: [argus]", `profile "argus" does not exist or does not accept bootstrap_cert`},
		{"profiles: [vpb], identity: mac", `identity "mac": use cn or serial`},
		{"profiles: [vpb], names: ['*.vpb.test']", `must hold {id} once`},
	} {
		bad, _ := harness.Config(t, "est:\n  bootstrap:\n    - {name: factory, ca_file: "+caFile+", "+tc.entry+"}\n")
		_, errOut, code := harness.Run(t, "serve", "--config", bad, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
		if code == 0 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("serve with a bootstrap CA {%s}: exit %d\n%s", tc.entry, code, errOut)
		}
	}
}
