package cli_test

import (
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

// TestPublicURLStoredWithCA (13.11): the public URL given at init is stored
// with the CA. vccpki issue run with another configuration writes the
// stored URLs, so openssl accepts its certificate against the server's
// CRL; serve with a contradicting --public-url exits with the command that
// changes it; that command is audited and takes effect.
func TestPublicURLStoredWithCA(t *testing.T) {
	openssl := harness.Tool(t, "openssl")
	curl := harness.Tool(t, "curl")
	t.Parallel()
	const stored = "http://pki.vcc.test"
	cfg, data := harness.Config(t, "public_url: "+stored+"/\n")
	if out, errOut, code := harness.Run(t, "init", "--config", cfg); code != 0 {
		t.Fatalf("init: %d\n%s%s", code, out, errOut)
	}
	// Another process's configuration: other addresses, another URL.
	other := filepath.Join(t.TempDir(), "other.yaml")
	profiles, _ := filepath.Abs("../../configs/profiles")
	body := "data: " + data + "\nprofiles: " + profiles + "\nhierarchy:\n  locality: Berlin\nhttp_addr: 127.0.0.1:18080\npublic_url: http://127.0.0.1:18080\n"
	if err := os.WriteFile(other, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := harness.StartServer(t, cfg) // port 0: the listener is not the stored URL's either
	if !strings.Contains(srv.Banner, "public URL in certificates: "+stored+"\n") {
		t.Errorf("the banner does not name the stored URL:\n%s", srv.Banner)
	}

	dir := t.TempDir()
	out, errOut, code := harness.Run(t, "issue", "--config", other, "--profile", "argus", "--csr", harness.WriteCSR(t, dir, "", "web.argus.test"))
	if code != 0 {
		t.Fatalf("issue: %s", errOut)
	}
	certs := harness.ParsePEMCerts(t, out)
	leaf := certs[0]
	if !slices.Equal(leaf.CRLDistributionPoints, []string{stored + "/crl/services.crl"}) ||
		!slices.Equal(leaf.OCSPServer, []string{stored + "/ocsp"}) ||
		!slices.Equal(leaf.IssuingCertificateURL, []string{stored + "/ca/services.crt"}) {
		t.Errorf("issue from another configuration wrote CRL DP %v, OCSP %v, caIssuers %v; want the stored %s",
			leaf.CRLDistributionPoints, leaf.OCSPServer, leaf.IssuingCertificateURL, stored)
	}
	leafPath, servicesPath, crlPath := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "services.pem"), filepath.Join(dir, "services.crl")
	os.WriteFile(leafPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o600)
	os.WriteFile(servicesPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[1].Raw}), 0o600)
	if b, err := exec.Command(curl, "-sS", "--fail", "-o", crlPath, srv.HTTPURL+"/crl/services.crl").CombinedOutput(); err != nil {
		t.Fatalf("curl: %v %s", err, b)
	}
	v, _ := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crlPath, "-CAfile", filepath.Join(data, "root.pem"), "-untrusted", servicesPath, leafPath).CombinedOutput()
	if !strings.Contains(string(v), ": OK") {
		t.Errorf("openssl verify -crl_check against the server's CRL:\n%s", v)
	}

	// serve with a contradicting flag refuses to start and names the
	// command that changes the URL. (The deadline only keeps a server
	// that wrongly starts from hanging the test.)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), "serve", "--config", cfg, "--public-url", "http://pki.example.org",
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+harness.Passphrase)
	refusal, err := cmd.CombinedOutput()
	want := "vccpki ca set-public-url --config " + cfg + " --data " + data + " http://pki.example.org"
	if err == nil || ctx.Err() != nil || !strings.Contains(string(refusal), want) || !strings.Contains(string(refusal), stored) {
		t.Errorf("serve with a contradicting --public-url: %v\n%s\nwant a non-zero exit naming %s and %q", err, refusal, stored, want)
	}

	// The change command: audited, and what the next signer uses.
	if out, errOut, code := harness.Run(t, "ca", "set-public-url", "--config", cfg, "http://pki.example.org"); code != 0 || !strings.Contains(out, "was "+stored) {
		t.Fatalf("ca set-public-url: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = harness.Run(t, "issue", "--config", other, "--profile", "argus", "--csr", harness.WriteCSR(t, dir, "", "api.argus.test"))
	if code != 0 {
		t.Fatalf("issue after the change: %s", errOut)
	}
	if got := harness.ParsePEMCerts(t, out)[0].OCSPServer; !slices.Equal(got, []string{"http://pki.example.org/ocsp"}) {
		t.Errorf("after ca set-public-url, issue wrote OCSP %v", got)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(data, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var audit []string
	st.WalkAudit(t.Context(), func(e store.AuditEntry) error {
		if strings.HasPrefix(e.Action, "ca.public-url") {
			audit = append(audit, e.Action+" "+e.Object+" "+e.Result)
		}
		if e.Action == "ca.public-url.set" && !strings.HasPrefix(e.Actor, "local:") {
			t.Errorf("the change is audited as done by %q, want the operator", e.Actor)
		}
		return nil
	})
	if !slices.Equal(audit, []string{"ca.public-url.adopt " + stored + " ok", "ca.public-url.set http://pki.example.org ok: was " + stored}) {
		t.Errorf("audit entries of the public URL: %q", audit)
	}
	if out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Errorf("audit verify: %s%s", out, errOut)
	}
}
