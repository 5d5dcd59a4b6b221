package acme_test

import (
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

// acmeServe is a `vccpki serve` whose validator asks a fake DNS (every
// name is 127.0.0.1) and checks http-01 on a loopback port where the test
// serves a webroot: the files an ACME client writes there are what the
// validator reads.
type acmeServe struct {
	cfg, root, dirURL string
	webroot           string // .well-known/acme-challenge lives below it
}

func startACMEServe(t *testing.T) *acmeServe {
	t.Helper()
	_, dnsAddr := harness.FakeDNS(t)
	httpPort := harness.FreePort(t)
	s := &acmeServe{webroot: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(s.webroot, ".well-known", "acme-challenge"), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(httpPort))
	if err != nil {
		t.Fatal(err)
	}
	web := &http.Server{Handler: http.FileServer(http.Dir(s.webroot))}
	go web.Serve(ln)
	t.Cleanup(func() { web.Close() })
	var data string
	s.cfg, data = harness.Config(t, "")
	srv := harness.StartServer(t, s.cfg, "--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort))
	s.dirURL = srv.BannerURL(t, "ACME directory")
	s.root = filepath.Join(data, "root.pem")
	return s
}

// challengeDir is where a client puts http-01 key authorizations.
func (s *acmeServe) challengeDir() string {
	return filepath.Join(s.webroot, ".well-known", "acme-challenge")
}

// verify checks cert (and its chain file) against the root with openssl
// and returns the certificate's serial number.
func (s *acmeServe) verify(t *testing.T, cert, chain string) *big.Int {
	t.Helper()
	out, err := exec.Command("openssl", "verify", "-CAfile", s.root, "-untrusted", chain, cert).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify %s: %v\n%s", cert, err, out)
	}
	out, err = exec.Command("openssl", "x509", "-in", cert, "-noout", "-serial").Output()
	if err != nil {
		t.Fatal(err)
	}
	serial, ok := new(big.Int).SetString(strings.TrimPrefix(strings.TrimSpace(string(out)), "serial="), 16)
	if !ok {
		t.Fatalf("openssl x509 -serial: %q", out)
	}
	return serial
}

// status is the CA's status of a certificate, from `vccpki certs list`.
func (s *acmeServe) status(t *testing.T, serial *big.Int) string {
	t.Helper()
	out, errOut, code := harness.Run(t, "certs", "list", "--config", s.cfg, "--json", "--all")
	var rows []struct{ Serial, Status string }
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
		t.Fatalf("certs list: %d %s %s", code, out, errOut)
	}
	for _, r := range rows {
		if n, ok := new(big.Int).SetString(r.Serial, 16); ok && n.Cmp(serial) == 0 {
			return r.Status
		}
	}
	t.Fatalf("serial %x is not in certs list:\n%s", serial, out)
	return ""
}

// TestDehydrated runs Debian's dehydrated (a shell client on curl and
// openssl) against `vccpki serve`: register, issue with http-01 from its
// WELLKNOWN directory, renew with --force, revoke.
func TestDehydrated(t *testing.T) {
	dehydrated := harness.Tool(t, "dehydrated")
	harness.Tool(t, "curl")
	harness.Tool(t, "openssl")
	t.Parallel()
	s := startACMEServe(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	body := "CA=\"" + s.dirURL + "\"\nCHALLENGETYPE=\"http-01\"\nBASEDIR=\"" + dir + "\"\nWELLKNOWN=\"" + s.challengeDir() + "\"\n" +
		"KEY_ALGO=\"prime256v1\"\nRENEW_DAYS=\"30\"\nCONTACT_EMAIL=\"ops@vcc.example\"\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(dehydrated, append(args, "--config", cfg)...)
		// dehydrated talks to the CA with the curl command, which reads
		// its trust anchors from CURL_CA_BUNDLE.
		cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+s.root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dehydrated %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const name = "dehydrated.test"
	certDir := filepath.Join(dir, "certs", name)
	cert, chain := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "chain.pem")

	run("--register", "--accept-terms")
	run("--cron", "--domain", name)
	first := s.verify(t, cert, chain)
	if st := s.status(t, first); st != "valid" {
		t.Errorf("issued certificate is %s", st)
	}

	run("--cron", "--force", "--domain", name)
	second := s.verify(t, cert, chain)
	if second.Cmp(first) == 0 {
		t.Fatal("dehydrated --force left the same certificate")
	}

	if out := run("--revoke", cert); !strings.Contains(out, "Done") {
		t.Errorf("dehydrated --revoke:\n%s", out)
	}
	if st := s.status(t, second); st != "revoked" {
		t.Errorf("after dehydrated --revoke the certificate is %s", st)
	}
}

// TestUacme runs Debian's uacme (C, libcurl with GnuTLS) against
// `vccpki serve`: new account, issue with http-01 through its own
// uacme.sh hook writing into the webroot, forced renewal, revoke.
//
// uacme has no option for trust anchors: GnuTLS reads the system bundle.
// The test runs it in a private mount namespace (unshare) where the
// system bundle is the test root, so the client itself is unmodified.
func TestUacme(t *testing.T) {
	uacme := harness.Tool(t, "uacme")
	unshare := harness.Tool(t, "unshare")
	harness.Tool(t, "openssl")
	const hook = "/usr/share/uacme/uacme.sh"
	if _, err := os.Stat(hook); err != nil {
		t.Fatalf("uacme's hook %s is missing: apt-get install -y --no-install-recommends uacme", hook)
	}
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	t.Parallel()
	s := startACMEServe(t)
	confdir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		nsArgs := []string{"--mount", "--propagation", "private"}
		if os.Getuid() != 0 {
			nsArgs = append([]string{"--user", "--map-root-user"}, nsArgs...)
		}
		script := `mkdir -p "$(dirname "$1")" && touch "$1" && mount --bind "$2" "$1" && shift 2 && exec "$@"`
		full := append(append(nsArgs, "sh", "-c", script, "-", bundle, s.root, uacme, "-v", "-c", confdir, "-a", s.dirURL, "-h", hook, "-t", "EC"), args...)
		cmd := exec.Command(unshare, full...)
		cmd.Env = append(os.Environ(), "UACME_CHALLENGE_PATH="+s.challengeDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("uacme %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const name = "uacme.test"
	cert := filepath.Join(confdir, name, "cert.pem")

	run("-y", "new", "ops@vcc.example")
	run("issue", name)
	first := s.verify(t, cert, cert)
	if st := s.status(t, first); st != "valid" {
		t.Errorf("issued certificate is %s", st)
	}

	run("-f", "issue", name)
	second := s.verify(t, cert, cert)
	if second.Cmp(first) == 0 {
		t.Fatal("uacme -f issue left the same certificate")
	}

	run("revoke", cert)
	if st := s.status(t, second); st != "revoked" {
		t.Errorf("after uacme revoke the certificate is %s", st)
	}
}
