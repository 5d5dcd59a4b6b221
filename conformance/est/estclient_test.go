package est_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

// runTool runs a command in dir and returns its standard output; it fails
// the test with the command's output if it exits non-zero.
func runTool(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestEstclient drives globalsign's own estclient command (built from
// github.com/globalsign/est v1.0.7, the version go.mod pins) through every
// call against `vccpki serve`, and checks each certificate with openssl
// verify.
func TestEstclient(t *testing.T) {
	openssl := harness.Tool(t, "openssl")
	t.Parallel()
	env := startEST(t)
	estclient := harness.ESTClient(t)
	dir := t.TempDir()
	ec := func(args ...string) string {
		t.Helper()
		common := []string{"-server", env.addr, "-explicit", env.rootFile, "-timeout", "30s"}
		return runTool(t, dir, estclient, append(args[:1:1], append(common, args[1:]...)...)...)
	}
	verify := func(cert string) {
		t.Helper()
		out := runTool(t, dir, openssl, "verify", "-CAfile", env.rootFile, "-untrusted", "cacerts.pem", "-purpose", "sslclient", cert)
		if !strings.Contains(out, cert+": OK") {
			t.Errorf("openssl verify %s: %s", cert, out)
		}
	}
	sans := func(cert string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, dir, openssl, "x509", "-in", cert, "-noout", "-ext", "subjectAltName"))
	}

	ec("cacerts", "-aps", "argus", "-out", "cacerts.pem")
	if n := strings.Count(readFile(t, dir, "cacerts.pem"), "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("cacerts: %d certificates; want the Services CA and the root", n)
	}
	if out := ec("csrattrs", "-aps", "argus"); !strings.Contains(out, "1.2.840.10045.2.1") || !strings.Contains(out, "1.2.840.113549.1.9.14") {
		t.Errorf("csrattrs output lacks id-ecPublicKey or extensionRequest:\n%s", out)
	}
	runTool(t, dir, openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem")

	t.Run("enroll with Basic", func(t *testing.T) {
		ec("enroll", "-aps", "argus", "-key", "key.pem", "-dnsnames", "estclient.argus.test",
			"-user", "argus-agent", "-pass", env.passwordOf("argus-agent"), "-out", "basic.pem")
		verify("basic.pem")
		if got := sans("basic.pem"); !strings.HasSuffix(got, "DNS:estclient.argus.test") {
			t.Errorf("SANs %q", got)
		}
	})
	t.Run("enroll with client certificate", func(t *testing.T) {
		runTool(t, dir, openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key2.pem")
		ec("enroll", "-aps", "argus", "-certs", "basic.pem", "-key", "key.pem", "-csr", writeCSR(t, dir, openssl, "key2.pem", "estclient.argus.test"), "-out", "bycert.pem")
		verify("bycert.pem")
	})
	t.Run("reenroll", func(t *testing.T) {
		ec("reenroll", "-aps", "argus", "-certs", "basic.pem", "-key", "key.pem", "-out", "renewed.pem")
		verify("renewed.pem")
		if sans("renewed.pem") != sans("basic.pem") {
			t.Errorf("renewed SANs %q differ from %q", sans("renewed.pem"), sans("basic.pem"))
		}
		serial := func(f string) string { return runTool(t, dir, openssl, "x509", "-in", f, "-noout", "-serial") }
		if serial("renewed.pem") == serial("basic.pem") {
			t.Error("reenroll returned the same certificate")
		}
	})
	t.Run("serverkeygen", func(t *testing.T) {
		ec("serverkeygen", "-dnsnames", "keygen.example.internal", "-user", "default-user", "-pass", env.passwordOf("default-user"),
			"-out", "keygen.pem", "-keyout", "keygen.key")
		verify("keygen.pem")
		certPub := runTool(t, dir, openssl, "x509", "-in", "keygen.pem", "-noout", "-pubkey")
		keyPub := runTool(t, dir, openssl, "pkey", "-in", "keygen.key", "-pubout")
		if certPub != keyPub {
			t.Error("the server-generated key is not the certificate's")
		}
	})
}

// writeCSR makes a CSR with openssl for a key and one DNS name.
func writeCSR(t testing.TB, dir, openssl, key, dns string) string {
	t.Helper()
	out := strings.TrimSuffix(key, ".pem") + ".csr"
	runTool(t, dir, openssl, "req", "-new", "-key", key, "-subj", "/", "-addext", "subjectAltName=DNS:"+dns, "-out", out)
	return out
}

func readFile(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// estServer is a `vccpki serve` with EST users of the profiles the tests
// enrol for.
type estServer struct {
	addr      string // HOST:PORT of HTTPS
	rootFile  string
	passwords map[string]string // user -> password
	cfg       string            // the server's configuration file
}

// startEST initialises a CA, adds the EST users argus-agent (argus) and
// default-user (default) with `vccpki est user add`, and serves it.
func startEST(t *testing.T) *estServer {
	t.Helper()
	cfg, data := harness.Config(t, "")
	if out, errOut, code := harness.Run(t, "init", "--config", cfg); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	e := &estServer{rootFile: filepath.Join(data, "root.pem"), passwords: map[string]string{}, cfg: cfg}
	for _, u := range []struct{ user, service string }{{"argus-agent", "argus"}, {"default-user", "default"}} {
		out, errOut, code := harness.Run(t, "est", "user", "add", "--config", cfg, "--service", u.service, "--user", u.user)
		pw := regexp.MustCompile(`(?m)^password=(\S+)$`).FindStringSubmatch(out)
		if code != 0 || pw == nil {
			t.Fatalf("est user add %s: %d %s %s", u.user, code, out, errOut)
		}
		e.passwords[u.user] = pw[1]
	}
	srv := harness.StartServer(t, cfg)
	e.addr = strings.TrimPrefix(srv.HTTPSURL, "https://")
	return e
}

func (e *estServer) passwordOf(user string) string { return e.passwords[user] }
