package main

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

	xocsp "golang.org/x/crypto/ocsp"
)

// TestServeOCSP runs the real binary with CRL shards and checks, with
// openssl, that a certificate issued by vccpki issue is good, then
// revoked with its reason once vccpki revoke (another process) returns;
// that its shard CRL and the full CRL refuse it and accept a good one;
// and that OCSP is served over HTTPS too.
func TestServeOCSP(t *testing.T) {
	openssl := ocspTestTool(t, "openssl", "apt-get install -y openssl")
	curl := ocspTestTool(t, "curl", "apt-get install -y curl")
	// The server's first start stores its public URL (http:// + the HTTP
	// address) with the CA; vccpki issue then writes that URL too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	cfg, data := testConfig(t, "http_addr: "+httpAddr+"\ncrl:\n  shards: 4\n  full: true\nocsp:\n  poll_interval: 100ms\n")
	srv := startServer(t, cfg, "--http-addr", httpAddr)
	if !strings.Contains(srv.banner, "/ocsp") || !strings.Contains(srv.banner, "/crl/<issuer>/<1..4>.crl") {
		t.Fatalf("banner:\n%s\nstderr:\n%s", srv.banner, srv.stderr)
	}

	dir := t.TempDir()
	issue := func(name string) (string, *x509.Certificate) {
		out, errOut, code := run(t, "issue", "--config", cfg, "--profile", "argus", "--csr", writeCSR(t, t.TempDir(), "", name))
		if code != 0 {
			t.Fatalf("issue: %s", errOut)
		}
		certs := parsePEMCerts(t, out)
		path := filepath.Join(dir, name+".pem")
		os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}), 0o600)
		os.WriteFile(filepath.Join(dir, "services.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[1].Raw}), 0o600)
		return path, certs[0]
	}
	goodPath, good := issue("good.argus.test")
	leafPath, leaf := issue("gone.argus.test")
	root := filepath.Join(data, "root.pem")
	services := filepath.Join(dir, "services.pem")
	if len(leaf.OCSPServer) != 1 || leaf.OCSPServer[0] != srv.httpURL+"/ocsp" {
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

	if out, errOut, code := run(t, "revoke", "--config", cfg, "--serial", leaf.SerialNumber.Text(16), "--reason", "keyCompromise"); code != 0 {
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
	for name, url := range map[string]string{"shard": leaf.CRLDistributionPoints[0], "full": srv.httpURL + "/crl/services.crl"} {
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
	issuer := parsePEMCerts(t, string(servicesPEM))[0]
	req, _ := xocsp.CreateRequest(good, issuer, &xocsp.RequestOptions{Hash: crypto.SHA256})
	resp, err := client.Post(srv.httpsURL+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if r, err := xocsp.ParseResponseForCert(body, good, issuer); err != nil || r.Status != xocsp.Good {
		t.Errorf("OCSP over HTTPS: %+v %v", r, err)
	}

	srv.stop(t)
	if strings.Contains(srv.stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", srv.stderr)
	}
}

// ocspTestTool finds a command-line tool or fails with the command that
// installs it; it never skips.
func ocspTestTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test and is not installed; install it with: %s", name, install)
	}
	return p
}

func TestOCSPConfiguration(t *testing.T) {
	if _, err := loadConfig("../../configs/dev.yaml"); err != nil {
		t.Fatalf("configs/dev.yaml: %v", err)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"shards out of range", "crl:\n  shards: 5000\n", "crl.shards"},
		{"negative shards", "crl:\n  shards: -1\n", "crl.shards"},
		{"no CRL at all", "crl:\n  full: false\n", "crl.full"},
		{"unknown presign hash", "ocsp:\n  presign: [md5]\n", "ocsp.presign"},
		{"short validity", "ocsp:\n  validity: 5m\n", "ocsp.validity"},
		{"bad poll interval", "ocsp:\n  poll_interval: soon\n", "ocsp.poll_interval"},
		{"unknown field", "ocsp:\n  cache: lots\n", "cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vccpki.yaml")
			os.WriteFile(path, []byte(tc.body), 0o600)
			_, err := loadConfig(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "vccpki.yaml") {
				t.Errorf("error %v, want one naming %q and the file", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "vccpki.yaml")
	os.WriteFile(path, []byte("crl:\n  shards: 8\n  full: false\nocsp:\n  presign: [sha1, SHA-256]\n  live_signatures_per_second: -1\n"), 0o600)
	c, err := loadConfig(path)
	if err != nil || c.crlShards != 8 || c.ocsp.FullCRL || len(c.ocsp.Presign) != 2 || c.ocsp.LiveSignatures != -1 {
		t.Errorf("config %+v, %v", c, err)
	}
}
