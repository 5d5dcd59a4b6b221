// Package softhsmtest creates throwaway SoftHSM2 tokens for tests: a
// configuration and token directory under t.TempDir(), selected through
// SOFTHSM2_CONF, so tests never touch /var/lib/softhsm.
package softhsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/internal/testtool"
)

// Module is where Debian's softhsm2 package installs the PKCS#11 library.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// Install is the command that provides SoftHSM2 and pkcs11-tool.
const Install = "apt-get install -y --no-install-recommends softhsm2 opensc"

// Token is a freshly initialised token.
type Token struct {
	Module string
	Label  string
	PIN    string
	SOPIN  string
	Conf   string // the SOFTHSM2_CONF file
}

// Env is the environment entry child processes need to see the token.
func (tk Token) Env() string { return "SOFTHSM2_CONF=" + tk.Conf }

// Need fails the test, with the install command, when SoftHSM2 or
// pkcs11-tool is missing. It never skips.
func Need(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Module); err != nil {
		t.Fatalf("SoftHSM2 is needed (%s missing); install it with: %s", Module, Install)
	}
	testtool.Need(t, "softhsm2-util")
	testtool.Need(t, "pkcs11-tool")
}

// New initialises a token labelled label in a new SoftHSM2 store and
// points SOFTHSM2_CONF at it for the rest of the test (so the test must
// not be parallel).
func New(t testing.TB, label string) Token {
	t.Helper()
	Need(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tk := Token{Module: Module, Label: label, PIN: "1234-test-pin", SOPIN: "5678-test-so", Conf: conf}
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", tk.SOPIN, "--pin", tk.PIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return tk
}

// Tool runs pkcs11-tool against the token, logged in, and returns its
// output.
func (tk Token) Tool(t testing.TB, args ...string) string {
	t.Helper()
	full := append([]string{"--module", tk.Module, "--token-label", tk.Label, "--login", "--pin", tk.PIN}, args...)
	cmd := exec.Command("pkcs11-tool", full...)
	cmd.Env = append(os.Environ(), tk.Env())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
