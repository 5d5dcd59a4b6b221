package signing_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/sign"
)

// adminCert is a client certificate of the VCC Admin CA with roles, from
// `vccpki issue --profile admin`, as files and as a TLS certificate.
type adminCert struct {
	cert, key string
	tls       tls.Certificate
}

func issueAdminCert(t *testing.T, cfg, cn string, roles ...string) adminCert {
	t.Helper()
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	for _, r := range roles {
		u, _ := url.Parse(auth.RoleURIPrefix + r)
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, _ := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	csr := filepath.Join(dir, "req.csr")
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600)
	out, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", "admin", "--csr", csr)
	if code != 0 {
		t.Fatalf("issue --profile admin: %s", errOut)
	}
	a := adminCert{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	os.WriteFile(a.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	os.WriteFile(a.cert, []byte(out), 0o644)
	if a.tls, err = tls.LoadX509KeyPair(a.cert, a.key); err != nil {
		t.Fatal(err)
	}
	return a
}

// signed is the part of POST /api/v1/sign's answer this test reads.
type signed struct {
	Registration struct {
		ID, Digest string
	} `json:"registration"`
	Bundle json.RawMessage `json:"bundle"`
}

// TestServerSigning: a CI pipeline holding only an Admin CA client
// certificate (role code_signer) has the server sign a SHA256SUMS through
// POST /api/v1/sign; vccpki verify and cosign accept the bundle, vccpki
// signatures list shows it, and verify --registry passes for it and
// fails (exit 23) for a signature made with a developer key and never
// registered.
func TestServerSigning(t *testing.T) {
	cosign := harness.GoTool(t, "github.com/sigstore/cosign/v3/cmd/cosign")
	t.Parallel()
	cfg, data := harness.Config(t, "api:\n  auth:\n    mtls: true\n")
	srv := harness.StartServer(t, cfg)
	e := &env{cfg: cfg, root: filepath.Join(data, "root.pem"), tsa: srv.HTTPURL + "/tsa", dir: t.TempDir()}
	ci := issueAdminCert(t, cfg, "ci-pipeline", "code_signer")
	reader := issueAdminCert(t, cfg, "deploy-verifier", "verifier")

	rootPEM, err := os.ReadFile(e.root)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{ci.tls}}}}

	dir := writeModel(t)
	sums, code := e.run(t, "sign", "manifest", dir)
	if code != 0 {
		t.Fatalf("sign manifest: %d %s", code, sums)
	}
	sumsFile := filepath.Join(e.dir, "SHA256SUMS")
	os.WriteFile(sumsFile, []byte(sums), 0o644)
	d := sha256.Sum256([]byte(sums))

	body, _ := json.Marshal(map[string]string{"profile": "clara-signing", "artifact_type": "manifest", "name": "clara-lora", "digest": hex.EncodeToString(d[:])})
	resp, err := client.Post(srv.HTTPSURL+"/api/v1/sign", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/sign: %s %s", resp.Status, raw)
	}
	var got signed
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	bundleFile := filepath.Join(e.dir, "SHA256SUMS.sigstore.json")
	os.WriteFile(bundleFile, got.Bundle, 0o644)

	if out, code := e.run(t, "verify", "file", sumsFile, "--signature", bundleFile, "--root", e.root, "--identity", "clara-*"); code != 0 {
		t.Fatalf("vccpki verify file: %d %s", code, out)
	}
	sum, err := sign.Summarize(got.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	tr := e.trustedRoot(t, cosign, sum.Chain)
	out, err := exec.Command(cosign, "verify-blob", sumsFile, "--bundle", bundleFile, "--trusted-root", tr,
		"--certificate-identity", "urn:vcc:signer:clara-signing:clara-server-signer", "--certificate-oidc-issuer-regexp", ".*",
		"--insecure-ignore-tlog", "--insecure-ignore-sct", "--use-signed-timestamps", "--allow-certificate-chain").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("cosign verify-blob: %v\n%s", err, out)
	}

	if out, code := e.run(t, "signatures", "list", "--config", cfg, "--digest", hex.EncodeToString(d[:])); code != 0 || !strings.Contains(out, got.Registration.ID) {
		t.Fatalf("signatures list: %d %s, want %s", code, out, got.Registration.ID)
	}
	if out, code := e.run(t, "signatures", "show", "--config", cfg, got.Registration.ID); code != 0 || !strings.Contains(out, "clara-lora") {
		t.Fatalf("signatures show: %d %s", code, out)
	}

	registry := []string{"--registry", srv.HTTPSURL, "--registry-cert", reader.cert, "--registry-key", reader.key}
	if out, code := e.run(t, append([]string{"verify", "file", sumsFile, "--signature", bundleFile, "--root", e.root, "--identity", "clara-*"}, registry...)...); code != 0 {
		t.Fatalf("verify --registry of a registered signature: %d %s", code, out)
	}
	// The same manifest signed with a developer's key, never registered.
	dev := e.enrol(t, "clara-dev")
	if out, code := e.run(t, append([]string{"sign", "file", sumsFile, "--format", "bundle"}, e.signArgs(dev)...)...); code != 0 {
		t.Fatalf("sign file: %d %s", code, out)
	}
	unregistered := sumsFile + ".sigstore.json" // sign file's default output
	if out, code := e.run(t, append([]string{"verify", "file", sumsFile, "--signature", unregistered, "--root", e.root, "--identity", "clara-*"}, registry...)...); code != 23 || !strings.Contains(out, "not_registered") {
		t.Fatalf("verify --registry of an unregistered signature: %d %s, want exit 23 not_registered", code, out)
	}
}
