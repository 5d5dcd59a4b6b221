// Package calife drives vccpki ca create and ca revoke against a running
// server's data directory, and checks the result with openssl.
package calife

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/conformance/harness"
)

// partnerProfile issues under the partner CA; *.other.example is allowed
// by the profile but not by the CA's name constraints.
const partnerProfile = `description: "a partner's TLS certificates"
issuer: partner
protocols: [acme, est]
identifiers:
  dns: ["*.partner.example", "*.other.example"]
keys:
  - {type: ecdsa, curves: [P-256]}
validity: 168h
backdate: 1m
key_usage: [digital_signature]
ext_key_usage: [server_auth]
renewal_fraction: 0.33
lint_ignore: [e_dnsname_not_valid_tld]
`

// TestCreateAndRevokeCA: ext-orgs below the root and partner below it
// (constrained to .partner.example) are created by the CLI while the
// server runs; a leaf issued under partner verifies with openssl
// -crl_check_all and the CRLs the server then serves; a name outside
// the constraints is refused before signing; after vccpki ca revoke the
// server's ext-orgs CRL lists partner (openssl refuses the leaf: revoked
// at depth 1), ext-orgs's OCSP responder says revoked, and issuance under
// partner is refused.
func TestCreateAndRevokeCA(t *testing.T) {
	openssl := harness.Tool(t, "openssl")
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	cfg, data := harness.Config(t, "http_addr: "+httpAddr+"\nocsp:\n  poll_interval: 100ms\n")
	srv := harness.StartServer(t, cfg, "--http-addr", httpAddr)

	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := harness.Run(t, args...)
		if code != 0 {
			t.Fatalf("vccpki %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	run("ca", "create", "--config", cfg, "--name", "ext-orgs", "--parent", "root", "--path-len", "1")
	out := run("ca", "create", "--config", cfg, "--name", "partner", "--parent", "ext-orgs", "--permitted-dns", ".partner.example")
	if !strings.Contains(out, "created partner (") || !strings.Contains(out, "below ext-orgs, and its OCSP responder") || !strings.Contains(out, "/crl/partner.crl") {
		t.Errorf("ca create output:\n%s", out)
	}
	if _, errOut, code := harness.Run(t, "ca", "create", "--config", cfg, "--name", "partner", "--parent", "ext-orgs"); code != 2 || !strings.Contains(errOut, "exists already") {
		t.Errorf("ca create again: exit %d %s", code, errOut)
	}

	// The issuing command loads a profile naming partner: its own
	// configuration on the same data directory.
	profiles := t.TempDir()
	src := filepath.Join(harness.RepoRoot, "configs", "profiles")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(profiles, e.Name()), b, 0o600)
	}
	os.WriteFile(filepath.Join(profiles, "partner.yaml"), []byte(partnerProfile), 0o600)
	cfg2 := filepath.Join(filepath.Dir(cfg), "issue.yaml")
	conf, _ := os.ReadFile(cfg)
	os.WriteFile(cfg2, []byte(strings.Replace(string(conf), "profiles: "+src, "profiles: "+profiles, 1)), 0o600)

	var errOut string
	var code int
	dir := t.TempDir()
	write := func(name string, der []byte, typ string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	issue := func(name string) (string, string, int) {
		return harness.Run(t, "issue", "--config", cfg2, "--profile", "partner", "--csr", harness.WriteCSR(t, t.TempDir(), "", name))
	}
	out, errOut, code = issue("www.partner.example")
	if code != 0 {
		t.Fatalf("issue under partner: %d %s", code, errOut)
	}
	certs := harness.ParsePEMCerts(t, out)
	if len(certs) < 3 || certs[1].Subject.CommonName == "" || len(certs[1].PermittedDNSDomains) != 1 {
		t.Fatalf("chain %d certificates", len(certs))
	}
	leaf := write("leaf.pem", certs[0].Raw, "CERTIFICATE")
	partner := write("partner.pem", certs[1].Raw, "CERTIFICATE")
	orgs := write("ext-orgs.pem", certs[2].Raw, "CERTIFICATE")
	untrusted := filepath.Join(dir, "untrusted.pem")
	pp, _ := os.ReadFile(partner)
	po, _ := os.ReadFile(orgs)
	os.WriteFile(untrusted, append(pp, po...), 0o600)
	root := filepath.Join(data, "root.pem")

	if _, errOut, code := issue("www.other.example"); code == 0 || !strings.Contains(errOut, "outside the name constraints") {
		t.Errorf("a name outside .partner.example: exit %d %s", code, errOut)
	}

	// The server takes the new CAs up on its periodic refresh.
	fetchCRL := func(issuer string) (*x509.RevocationList, []byte, bool) {
		resp, err := http.Get(srv.HTTPURL + "/crl/" + issuer + ".crl")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return nil, nil, false
		}
		crl, err := x509.ParseRevocationList(b)
		if err != nil {
			t.Fatal(err)
		}
		return crl, b, true
	}
	crls := func() []string {
		var args []string
		for _, n := range []string{"root", "ext-orgs", "partner"} {
			_, der, ok := fetchCRL(n)
			if !ok {
				t.Fatalf("no CRL of %s", n)
			}
			args = append(args, "-CRLfile", write(n+".crl.pem", der, "X509 CRL"))
		}
		return args
	}
	harness.Eventually(t, 60*time.Second, "the server serves the new CAs' CRLs", func() bool {
		_, _, a := fetchCRL("ext-orgs")
		_, _, b := fetchCRL("partner")
		return a && b
	})
	verify := func() (string, error) {
		args := append([]string{"verify", "-CAfile", root, "-untrusted", untrusted, "-crl_check_all"}, crls()...)
		b, err := exec.Command(openssl, append(args, leaf)...).CombinedOutput()
		return string(b), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("openssl verify before revocation: %v\n%s", err, out)
	}

	out = run("ca", "revoke", "--config", cfg, "--name", "partner", "--reason", "cACompromise", "--list")
	if !strings.Contains(out, "revoked the partner CA (cACompromise); 1 valid certificates") || !strings.Contains(out, ca.FormatSerial(certs[0].SerialNumber)) {
		t.Errorf("ca revoke output:\n%s", out)
	}
	harness.Eventually(t, 60*time.Second, "ext-orgs's CRL lists partner", func() bool {
		crl, _, _ := fetchCRL("ext-orgs")
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(certs[1].SerialNumber) == 0 {
				return true
			}
		}
		return false
	})
	if out, err := verify(); err == nil || !strings.Contains(out, "error 23 at 1 depth lookup: certificate revoked") {
		t.Errorf("openssl verify after revocation: %v\n%s", err, out)
	}
	ocspOut, err := exec.Command(openssl, "ocsp", "-issuer", orgs, "-cert", partner, "-url", srv.HTTPURL+"/ocsp", "-CAfile", root, "-timeout", "10").CombinedOutput()
	if err != nil || !strings.Contains(string(ocspOut), "Response verify OK") || !strings.Contains(string(ocspOut), partner+": revoked") ||
		!strings.Contains(string(ocspOut), "Reason: cACompromise") {
		t.Errorf("openssl ocsp for partner: %v\n%s", err, ocspOut)
	}
	if _, errOut, code := issue("new.partner.example"); code == 0 || !strings.Contains(errOut, "the partner CA is revoked (cACompromise since") {
		t.Errorf("issuance under a revoked CA: exit %d %s", code, errOut)
	}
}
