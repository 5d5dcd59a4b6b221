package cli_test

import (
	"crypto/x509"
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

	"github.com/vcc/vccpki/ca/keys/pkcs11/softhsmtest"
	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/internal/testtool"
)

const rootPassphraseEnv = "VCCPKI_ROOT_PASSPHRASE=the offline root's own passphrase"

// partnerProfileYAML is a profile naming the CA the ceremony makes.
const partnerProfileYAML = `description: "a partner below the offline root"
issuer: partner
protocols: [acme, est]
identifiers:
  dns: ["*.partner.test", "partner.test"]
keys:
  - {type: ecdsa, curves: [P-256]}
validity: 168h
backdate: 1m
key_usage: [digital_signature]
ext_key_usage: [server_auth]
renewal_fraction: 0.33
lint_ignore: [e_dnsname_not_valid_tld]
`

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// TestOfflineRoot: init --offline-root, serve; on the "root host" (the
// root directory and an exported state, no network) sign the root CRL and
// a new CA; import both into the running server; openssl verifies the
// served root CRL (long nextUpdate) and a certificate issued by the new
// CA.
func TestOfflineRoot(t *testing.T) {
	t.Parallel()
	openssl := testtool.Need(t, "openssl")
	cfg, data := harness.Config(t, "crl:\n  root_validity: 100d\n")
	work := t.TempDir()
	rootDir := filepath.Join(work, "root-host", "root")
	env := []string{rootPassphraseEnv}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := harness.RunEnv(t, env, args...)
		if code != 0 {
			t.Fatalf("vccpki %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	if out := run("init", "--config", cfg, "--offline-root", "--root-dir", rootDir); !strings.Contains(out, "imported root CRL 1") {
		t.Fatalf("init --offline-root: %s", out)
	}
	// The serving side cannot sign with the root.
	if _, errOut, code := harness.RunEnv(t, env, "ca", "create", "--config", cfg, "--name", "partner", "--parent", "root"); code != 2 || !strings.Contains(errOut, "ceremony create-ca") {
		t.Fatalf("ca create below the offline root: exit %d %s", code, errOut)
	}
	srv := harness.StartServer(t, cfg)
	rootPEM := filepath.Join(data, "root.pem")
	first, err := x509.ParseRevocationList(get(t, srv.HTTPURL+"/crl/root.crl"))
	if err != nil || first.Number.Int64() != 1 || first.NextUpdate.Sub(first.ThisUpdate) != 100*24*time.Hour {
		t.Fatalf("served root CRL at start: %v %v", first, err)
	}

	if m := string(get(t, srv.Metrics)); !strings.Contains(m, "vccpki_root_crl_next_update_seconds 8.6") {
		t.Errorf("metrics lack the root CRL's remaining time (about 100 days, 8.6e+06 s):\n%s", m[:min(len(m), 2000)])
	}

	// Root host: the exported state, then the ceremony.
	state := filepath.Join(work, "root-host", "state")
	run("ceremony", "export-state", "--config", cfg, "--out", state)
	crlArt := filepath.Join(work, "root-crl.json")
	run("ceremony", "sign-crl", "--config", cfg, "--data", state, "--root-dir", rootDir, "--validity", "120d", "--out", crlArt)
	run("ceremony", "import", "--config", cfg, crlArt)
	crlFile := filepath.Join(work, "root.crl")
	harness.Eventually(t, 60*time.Second, "the server serves the imported root CRL", func() bool {
		b := get(t, srv.HTTPURL+"/crl/root.crl")
		c, err := x509.ParseRevocationList(b)
		if err != nil || c.Number.Int64() != 2 {
			return false
		}
		return os.WriteFile(crlFile, b, 0o600) == nil
	})
	out, err := exec.Command(openssl, "crl", "-inform", "DER", "-in", crlFile, "-CAfile", rootPEM, "-noout", "-verify", "-nextupdate").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") {
		t.Fatalf("openssl crl -verify: %v\n%s", err, out)
	}
	next, err := time.Parse("Jan _2 15:04:05 2006 MST", strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out[strings.Index(string(out), "nextUpdate="):])), "nextUpdate=")))
	if err != nil || time.Until(next) < 119*24*time.Hour {
		t.Errorf("openssl nextUpdate %v (%v), want 120 days ahead", next, err)
	}

	// A new CA: request here, sign on the root host, import here.
	req := filepath.Join(work, "partner-request.json")
	run("ca", "request", "--config", cfg, "--name", "partner", "--permitted-dns", ".partner.test", "--permitted-dns", "partner.test", "--out", req)
	caArt := filepath.Join(work, "partner-ca.json")
	run("ceremony", "create-ca", "--config", cfg, "--data", state, "--root-dir", rootDir, "--request", req, "--out", caArt)
	if out := run("ceremony", "import", "--config", cfg, caArt); !strings.Contains(out, "imported the CA partner") {
		t.Fatalf("import: %s", out)
	}
	var partnerPEM []byte
	harness.Eventually(t, 60*time.Second, "the running server serves the new CA", func() bool {
		resp, err := http.Get(srv.HTTPURL + "/ca/partner.crt")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return false
		}
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return false
		}
		partnerPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		return true
	})
	partnerFile := filepath.Join(work, "partner.pem")
	if err := os.WriteFile(partnerFile, partnerPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	// A profile naming it, and a certificate it issues.
	profiles := filepath.Join(work, "profiles")
	if err := os.MkdirAll(profiles, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(harness.RepoRoot, "configs", "profiles"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(harness.RepoRoot, "configs", "profiles", e.Name()))
		if err := os.WriteFile(filepath.Join(profiles, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(profiles, "partner.yaml"), []byte(partnerProfileYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg2 := filepath.Join(work, "with-partner.yaml")
	if err := os.WriteFile(cfg2, []byte("data: "+data+"\nprofiles: "+profiles+"\nhierarchy:\n  locality: Berlin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf := filepath.Join(work, "leaf.pem")
	if err := os.WriteFile(leaf, []byte(run("issue", "--config", cfg2, "--profile", "partner", "--csr", harness.WriteCSR(t, work, "", "www.partner.test"))), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(openssl, "verify", "-CAfile", rootPEM, "-untrusted", partnerFile, leaf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
	// The CA's name constraints hold: a name outside them is refused.
	if _, errOut, code := harness.RunEnv(t, env, "issue", "--config", cfg2, "--profile", "partner", "--csr", harness.WriteCSR(t, t.TempDir(), "", "partner.test.evil")); code == 0 {
		t.Errorf("issued outside the profile and constraints: %s", errOut)
	}

	// Roll the partner CA over: a new key and request here, the root's
	// signature on the root host, the import here.
	if _, errOut, code := harness.RunEnv(t, env, "ca", "rollover", "--config", cfg, "--name", "partner"); code != 2 || !strings.Contains(errOut, "--request-out") {
		t.Fatalf("ca rollover below the offline root without a request: exit %d %s", code, errOut)
	}
	rollReq := filepath.Join(work, "partner-rollover.json")
	run("ca", "rollover", "--config", cfg, "--name", "partner", "--request-out", rollReq)
	state2 := filepath.Join(work, "root-host", "state2") // now with the partner CA
	run("ceremony", "export-state", "--config", cfg, "--out", state2)
	rollArt := filepath.Join(work, "partner-rollover-ca.json")
	run("ceremony", "rollover", "--config", cfg, "--data", state2, "--root-dir", rootDir, "--request", rollReq, "--out", rollArt)
	if out := run("ceremony", "import", "--config", cfg, rollArt); !strings.Contains(out, "imported generation 2 of the CA partner") {
		t.Fatalf("import of the rollover: %s", out)
	}
	oldCA, _ := pem.Decode(partnerPEM)
	oldCert, _ := x509.ParseCertificate(oldCA.Bytes)
	var newCA *x509.Certificate
	harness.Eventually(t, 60*time.Second, "the running server serves the new generation", func() bool {
		resp, err := http.Get(srv.HTTPURL + "/ca/partner_2.crt")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		newCA, err = x509.ParseCertificate(b)
		return resp.StatusCode == 200 && err == nil
	})
	if string(newCA.SubjectKeyId) == string(oldCert.SubjectKeyId) || string(newCA.RawSubject) != string(oldCert.RawSubject) ||
		strings.Join(newCA.PermittedDNSDomains, ",") != strings.Join(oldCert.PermittedDNSDomains, ",") {
		t.Errorf("new generation: SKI %x (old %x), subject %s, constraints %v (old %v)", newCA.SubjectKeyId, oldCert.SubjectKeyId, newCA.Subject, newCA.PermittedDNSDomains, oldCert.PermittedDNSDomains)
	}
	newFile := filepath.Join(work, "partner_2.pem")
	if err := os.WriteFile(newFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: newCA.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	// New issuance uses the new key.
	leaf2 := filepath.Join(work, "leaf2.pem")
	if err := os.WriteFile(leaf2, []byte(run("issue", "--config", cfg2, "--profile", "partner", "--csr", harness.WriteCSR(t, work, "", "www2.partner.test"))), 0o600); err != nil {
		t.Fatal(err)
	}
	l2, _ := pem.Decode([]byte(mustRead(t, leaf2)))
	c2, err := x509.ParseCertificate(l2.Bytes)
	if err != nil || string(c2.AuthorityKeyId) != string(newCA.SubjectKeyId) {
		t.Fatalf("a leaf issued after the import: AKI %x, want the new SKI %x (%v)", c2.AuthorityKeyId, newCA.SubjectKeyId, err)
	}
	if out, err := exec.Command(openssl, "verify", "-CAfile", rootPEM, "-untrusted", newFile, leaf2).CombinedOutput(); err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify of the new leaf: %v\n%s", err, out)
	}
	// The old leaf's CRL (the URL it names) is still signed by the old
	// key, and openssl checks the old leaf against it.
	l1, _ := pem.Decode([]byte(mustRead(t, leaf)))
	c1, _ := x509.ParseCertificate(l1.Bytes)
	dp, err := url.Parse(c1.CRLDistributionPoints[0])
	if err != nil || dp.Path != "/crl/partner.crl" {
		t.Fatalf("the old leaf names CRL %v (%v)", c1.CRLDistributionPoints, err)
	}
	oldCRL := get(t, srv.HTTPURL+dp.Path)
	if crl, err := x509.ParseRevocationList(oldCRL); err != nil || crl.CheckSignatureFrom(oldCert) != nil {
		t.Fatalf("the old leaf's CRL %s is not signed by the old generation: %v", c1.CRLDistributionPoints[0], err)
	}
	oldCRLFile := filepath.Join(work, "partner-old.crl")
	if err := os.WriteFile(oldCRLFile, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: oldCRL}), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", oldCRLFile, "-CAfile", rootPEM, "-untrusted", partnerFile, leaf).CombinedOutput(); err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify -crl_check of the old leaf after the rollover: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUpgradeDataDirectory: a data directory made by an older vccpki
// keeps working with this one.
//
// The fixture testdata/datadir-cc193fd was made once with the binary of
// commit cc193fd (main before dynamic issuing CAs and CA revocation):
//
//	git worktree add /tmp/old cc193fd && (cd /tmp/old && go build -o /tmp/vccpki-old ./cmd/vccpki)
//	VCCPKI_KEK_PASSPHRASE="cmd test passphrase, long enough" /tmp/vccpki-old init --data testdata/datadir-cc193fd
//
// (the passphrase is harness.Passphrase; the directory holds vccpki.db,
// with the sealed key store, and root.pem). The test copies it, runs
// today's serve on it (migrations apply), issues a certificate while it
// runs, and creates an issuing CA with ca create, which the running
// server takes up.
func TestUpgradeDataDirectory(t *testing.T) {
	t.Parallel()
	cfg, data := harness.Config(t, "")
	fixture := filepath.Join("testdata", "datadir-cc193fd")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"vccpki.db", "root.pem"} {
		b, err := os.ReadFile(filepath.Join(fixture, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	oldRoot, _ := os.ReadFile(filepath.Join(fixture, "root.pem"))
	srv := harness.StartServer(t, cfg)
	if got := get(t, srv.HTTPURL+"/root.pem"); string(got) != string(oldRoot) {
		t.Fatalf("the upgraded server serves another root:\n%s", got)
	}
	dir := t.TempDir()
	out, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", "clara", "--csr", harness.WriteCSR(t, dir, "", "api.clara.test"))
	if code != 0 || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Fatalf("issue on the upgraded data directory: exit %d %s", code, errOut)
	}
	if _, errOut, code := harness.Run(t, "ca", "create", "--config", cfg, "--name", "partner", "--parent", "root", "--permitted-dns", ".partner.test"); code != 0 {
		t.Fatalf("ca create on the upgraded data directory: exit %d %s", code, errOut)
	}
	harness.Eventually(t, 60*time.Second, "the running server serves the new CA", func() bool {
		resp, err := http.Get(srv.HTTPURL + "/ca/partner.crt")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// TestOfflineRootToken: init --offline-root with the root key made in a
// PKCS#11 token (SoftHSM2): pkcs11-tool shows it sensitive and never
// extractable; ceremony sign-crl opens the token with its PIN (a wrong PIN
// is refused) and the imported root CRL verifies with openssl. Not
// parallel: the token's SOFTHSM2_CONF is set for the test.
func TestOfflineRootToken(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	tk := softhsmtest.New(t, "vccpki-root")
	cfg, data := harness.Config(t, "")
	work := t.TempDir()
	rootDir := filepath.Join(work, "root-host", "root")
	env := []string{tk.Env(), "VCCPKI_ROOT_PKCS11_PIN=" + tk.PIN}
	run := func(env []string, args ...string) (string, string, int) {
		t.Helper()
		return harness.RunEnv(t, env, args...)
	}
	if out, errOut, code := run(env, "init", "--config", cfg, "--offline-root", "--root-dir", rootDir,
		"--root-pkcs11-module", tk.Module, "--root-pkcs11-token", tk.Label); code != 0 || !strings.Contains(out, "is in the PKCS#11 token vccpki-root") {
		t.Fatalf("init --offline-root --root-pkcs11-module: exit %d\n%s%s", code, out, errOut)
	}
	if objs := tk.Tool(t, "--list-objects", "--type", "privkey"); !strings.Contains(objs, "never extractable") || !strings.Contains(objs, "sensitive") || !strings.Contains(objs, "label:      root-") {
		t.Errorf("the root key in the token:\n%s", objs)
	}
	if b, _ := os.ReadFile(filepath.Join(rootDir, "offline-root.json")); strings.Contains(string(b), "sealed_key") || !strings.Contains(string(b), `"unseal": "pkcs11"`) {
		t.Errorf("the root file:\n%s", b)
	}
	state := filepath.Join(work, "root-host", "state")
	if out, errOut, code := run(env, "ceremony", "export-state", "--config", cfg, "--out", state); code != 0 {
		t.Fatalf("export-state: exit %d\n%s%s", code, out, errOut)
	}
	art := filepath.Join(work, "root-crl.json")
	sign := []string{"ceremony", "sign-crl", "--config", cfg, "--data", state, "--root-dir", rootDir, "--out", art}
	if _, errOut, code := run([]string{tk.Env(), "VCCPKI_ROOT_PKCS11_PIN=0000-wrong"}, sign...); code == 0 {
		t.Fatalf("sign-crl with a wrong PIN succeeded: %s", errOut)
	}
	if out, errOut, code := run(env, sign...); code != 0 {
		t.Fatalf("sign-crl: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := run(env, "ceremony", "import", "--config", cfg, art); code != 0 || !strings.Contains(out, "imported root CRL 2") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	b, _ := os.ReadFile(art)
	var a struct{ DER []byte }
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(work, "root.crl")
	if err := os.WriteFile(crlFile, a.DER, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "crl", "-inform", "DER", "-in", crlFile, "-CAfile", filepath.Join(data, "root.pem"), "-noout", "-verify").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") {
		t.Fatalf("openssl crl -verify: %v\n%s", err, out)
	}
}
