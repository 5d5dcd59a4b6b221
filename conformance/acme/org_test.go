package acme_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
)

// akmeProfile is a partner's profile: client certificates from the CA the
// partner owns (ext-akme, made by vccpki ca create --org akme).
const akmeProfile = `description: "Akme services: TLS client certificates"
organisation: akme
issuer: ext-akme
protocols: [acme]
identifiers:
  dns: [akme.test, "*.akme.test"]
keys:
  - {type: ecdsa, curves: [P-256]}
validity: 168h
key_usage: [digital_signature]
ext_key_usage: [client_auth]
renewal_fraction: 0.33
lint_ignore: [e_dnsname_not_valid_tld, e_sub_cert_eku_check]
`

// TestOrganisationDirectoryWithLego: the onboarding commands (org create,
// ca create --org, a profile of the organisation, eab create) and then lego
// against /acme/<org>/directory with the partner's EAB key: it gets a
// certificate of the partner's CA; with the operator's EAB key the same
// directory refuses it.
func TestOrganisationDirectoryWithLego(t *testing.T) {
	lego := harness.Lego(t)
	harness.Tool(t, "openssl")
	t.Parallel()
	_, dnsAddr := harness.FakeDNS(t)
	httpPort, tlsPort := harness.FreePort(t), harness.FreePort(t)

	dir := t.TempDir()
	profiles := filepath.Join(dir, "profiles")
	if err := os.Mkdir(profiles, 0o700); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(harness.RepoRoot, "configs", "profiles", "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(profiles, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "vccpki.yaml")
	if err := os.WriteFile(cfg, []byte("data: data\nprofiles: "+profiles+"\nhierarchy:\n  locality: Berlin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := harness.Run(t, append(args, "--config", cfg)...)
		if code != 0 {
			t.Fatalf("vccpki %v: %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	must("init")
	must("ca", "create", "--name", "ext-orgs", "--parent", "root", "--path-len", "1", "--cn", "VCC External Organizations CA")
	start := time.Now() // the onboarding sequence, up to the partner's first certificate
	must("org", "create", "--name", "akme", "--display", "Akme GmbH")
	if out := must("ca", "create", "--name", "ext-akme", "--parent", "ext-orgs", "--org", "akme", "--permitted-dns", "akme.test", "--cn", "Akme Partner CA"); !strings.Contains(out, "owned by organisation akme") {
		t.Errorf("ca create --org: %s", out)
	}
	// The profile comes after its CA is the organisation's: serve checks it.
	if err := os.WriteFile(filepath.Join(profiles, "akme.yaml"), []byte(akmeProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := harness.StartServer(t, cfg, "--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort), "--va-tls-port", strconv.Itoa(tlsPort))
	rootPath := filepath.Join(dir, "data", "root.pem")

	eab := func(service string) (string, string) {
		var k struct{ KID, HMAC string }
		if err := json.Unmarshal([]byte(must("eab", "create", "--service", service, "--json")), &k); err != nil {
			t.Fatal(err)
		}
		return k.KID, k.HMAC
	}
	legoRun := func(kid, hmac, domain string) (string, string, error) {
		legoDir := t.TempDir()
		cmd := exec.Command(lego, "--server", srv.HTTPSURL+"/acme/akme/directory", "--accept-tos", "--email", "ops@akme.test",
			"--path", legoDir, "--domains", domain, "--http", "--http.port", "127.0.0.1:"+strconv.Itoa(httpPort),
			"--eab", "--kid", kid, "--hmac", hmac, "run", "--profile", "akme")
		cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+rootPath)
		out, err := cmd.CombinedOutput()
		return string(out), legoDir, err
	}

	kid, hmac := eab("akme")
	out, legoDir, err := legoRun(kid, hmac, "www.akme.test")
	if err != nil {
		t.Fatalf("lego at akme's directory: %v\n%s\nserver:\n%s", err, out, srv.Stderr)
	}
	t.Logf("onboarding (org create, ca create --org, profile, serve, eab create, first certificate): %v", time.Since(start).Round(time.Millisecond))
	crt := filepath.Join(legoDir, "certificates", "www.akme.test.crt")
	issuer := filepath.Join(legoDir, "certificates", "www.akme.test.issuer.crt")
	v, err := exec.Command("openssl", "verify", "-CAfile", rootPath, "-untrusted", issuer, crt).CombinedOutput()
	if err != nil || !strings.Contains(string(v), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, v)
	}
	subj, err := exec.Command("openssl", "x509", "-in", crt, "-noout", "-issuer").CombinedOutput()
	if err != nil || !strings.Contains(string(subj), "Akme Partner CA") {
		t.Errorf("issuer of akme's certificate: %s %v; want akme's CA", subj, err)
	}

	okid, ohmac := eab("argus")
	out, _, err = legoRun(okid, ohmac, "www2.akme.test")
	if err == nil || !strings.Contains(out, "urn:ietf:params:acme:error:unauthorized") {
		t.Fatalf("lego with the operator's EAB key at akme's directory: %v\n%s; want unauthorized", err, out)
	}
	if got := must("org", "show", "akme", "--json"); !strings.Contains(got, `"cas": [`+"\n"+`    "ext-akme"`) {
		t.Errorf("org show does not list the CA akme owns: %s", got)
	}
}
