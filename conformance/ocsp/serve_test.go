package ocsp_test

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
	xocsp "golang.org/x/crypto/ocsp"
)

// TestServeOCSP runs the real binary with CRL shards and checks, with
// openssl, that a certificate issued by vccpki issue is good, then
// revoked with its reason once vccpki revoke (another process) returns;
// that its shard CRL and the full CRL refuse it and accept a good one;
// and that OCSP is served over HTTPS too.
func TestServeOCSP(t *testing.T) {
	openssl := harness.Tool(t, "openssl")
	curl := harness.Tool(t, "curl")
	t.Parallel()
	// The server's first start stores its public URL (http:// + the HTTP
	// address) with the CA; vccpki issue then writes that URL too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	cfg, data := harness.Config(t, "http_addr: "+httpAddr+"\ncrl:\n  shards: 4\n  full: true\nocsp:\n  poll_interval: 100ms\n")
	srv := harness.StartServer(t, cfg, "--http-addr", httpAddr)
	if !strings.Contains(srv.Banner, "/ocsp") || !strings.Contains(srv.Banner, "/crl/<issuer>/<1..4>.crl") {
		t.Fatalf("banner:\n%s\nstderr:\n%s", srv.Banner, srv.Stderr)
	}

	dir := t.TempDir()
	issue := func(name string) (string, *x509.Certificate) {
		out, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", "argus", "--csr", harness.WriteCSR(t, t.TempDir(), "", name))
		if code != 0 {
			t.Fatalf("issue: %s", errOut)
		}
		certs := harness.ParsePEMCerts(t, out)
		path := filepath.Join(dir, name+".pem")
		os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}), 0o600)
		os.WriteFile(filepath.Join(dir, "services.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[1].Raw}), 0o600)
		return path, certs[0]
	}
	goodPath, good := issue("good.argus.test")
	leafPath, leaf := issue("gone.argus.test")
	root := filepath.Join(data, "root.pem")
	services := filepath.Join(dir, "services.pem")
	if len(leaf.OCSPServer) != 1 || leaf.OCSPServer[0] != srv.HTTPURL+"/ocsp" {
		t.Fatalf("AIA OCSP %v", leaf.OCSPServer)
	}
	ocspCheck := func(path string) string {
		out, err := exec.Command(openssl, "ocsp", "-issuer", services, "-cert", path, "-url", leaf.OCSPServer[0], "-CAfile", root, "-timeout", "10").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Response verify OK") {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		return string(out)
	}
	// An idle connection and a slow one (a header trickling in) do not
	// hold up other clients, as they wedge openssl's own responder.
	for _, first := range []string{"", "POST /ocsp HTTP/1.1\r\nHost: x\r\n"} {
		c, err := net.Dial("tcp", httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte(first))
	}
	if out := ocspCheck(leafPath); !strings.Contains(out, ": good") {
		t.Fatalf("before revocation:\n%s", out)
	}

	if out, errOut, code := harness.Run(t, "revoke", "--config", cfg, "--serial", leaf.SerialNumber.Text(16), "--reason", "keyCompromise"); code != 0 {
		t.Fatalf("revoke: %s %s", out, errOut)
	}
	revokedAt := time.Now()
	var out string
	for {
		if out = ocspCheck(leafPath); strings.Contains(out, ": revoked") {
			break
		}
		if time.Since(revokedAt) > 15*time.Second {
			t.Fatalf("still not revoked 15s after vccpki revoke returned:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("openssl saw revoked %v after vccpki revoke returned", time.Since(revokedAt).Round(time.Millisecond))
	if !strings.Contains(out, "Reason: keyCompromise") {
		t.Errorf("no reason:\n%s", out)
	}

	// The certificate names its shard; that shard's CRL and the full CRL
	// list it (once rebuilt), and openssl refuses it with either.
	if len(leaf.CRLDistributionPoints) != 1 || !regexp.MustCompile(`/crl/services/[1-4]\.crl$`).MatchString(leaf.CRLDistributionPoints[0]) {
		t.Fatalf("CRL DP %v", leaf.CRLDistributionPoints)
	}
	for name, url := range map[string]string{"shard": leaf.CRLDistributionPoints[0], "full": srv.HTTPURL + "/crl/services.crl"} {
		crlFile := filepath.Join(dir, name+".crl")
		start := time.Now()
		for {
			if b, err := exec.Command(curl, "-sS", "--fail", "-o", crlFile, url).CombinedOutput(); err != nil {
				t.Fatalf("curl %s: %v %s", url, err, b)
			}
			v, _ := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", root, "-untrusted", services, leafPath).CombinedOutput()
			if strings.Contains(string(v), "certificate revoked") {
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("%s CRL %s does not list the revoked certificate:\n%s", name, url, v)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if name == "full" || good.CRLDistributionPoints[0] == url {
			v, _ := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", root, "-untrusted", services, goodPath).CombinedOutput()
			if !strings.Contains(string(v), ": OK") {
				t.Errorf("%s CRL refuses the good certificate:\n%s", name, v)
			}
		}
	}

	// Over HTTPS, a Go client trusting only the root.
	rootPEM, _ := os.ReadFile(root)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	servicesPEM, err := os.ReadFile(services)
	if err != nil {
		t.Fatal(err)
	}
	issuer := harness.ParsePEMCerts(t, string(servicesPEM))[0]
	req, _ := xocsp.CreateRequest(good, issuer, &xocsp.RequestOptions{Hash: crypto.SHA256})
	resp, err := client.Post(srv.HTTPSURL+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if r, err := xocsp.ParseResponseForCert(body, good, issuer); err != nil || r.Status != xocsp.Good {
		t.Errorf("OCSP over HTTPS: %+v %v", r, err)
	}

	srv.Stop(t)
	if strings.Contains(srv.Stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", srv.Stderr)
	}
}
