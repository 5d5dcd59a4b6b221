package harness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Run runs the binary with the test passphrase in its environment and
// returns stdout, stderr and the exit code.
func Run(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	return run(t, exec.Command(Binary(t), args...), "VCCPKI_KEK_PASSPHRASE="+Passphrase)
}

// RunWithInput runs the binary with stdin and no passphrase in its
// environment, and returns stdout, stderr and the exit code.
func RunWithInput(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	return run(t, cmd)
}

// RunEnv is Run with more environment (e.g. XDG_CONFIG_HOME for the
// remote CLI's stored login).
func RunEnv(t testing.TB, env []string, args ...string) (string, string, int) {
	t.Helper()
	return run(t, exec.Command(Binary(t), args...), append([]string{"VCCPKI_KEK_PASSPHRASE=" + Passphrase}, env...)...)
}

func run(t testing.TB, cmd *exec.Cmd, env ...string) (string, string, int) {
	t.Helper()
	cmd.Env = append(append(os.Environ(), env...), "VCCPKI_CONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// Config writes a configuration for a fresh data directory that uses the
// repository's profile templates, and returns its path and the data
// directory.
func Config(t testing.TB, extra string) (cfgPath, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "vccpki.yaml")
	body := "data: data\nprofiles: " + filepath.Join(RepoRoot, "configs", "profiles") + "\nhierarchy:\n  locality: Berlin\n" + extra
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, filepath.Join(dir, "data")
}

// WriteCSR writes a PEM CSR for a new P-256 key to dir/req.csr.
func WriteCSR(t testing.TB, dir, cn string, dns ...string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "req.csr")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
