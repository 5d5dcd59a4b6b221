package keys_test

import (
	"os"
	"strings"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestBackendMismatch: a configuration cannot send a CA's keys to another
// place than the one it was created with.
func TestBackendMismatch(t *testing.T) {
	t.Parallel()
	cfg, _ := harness.Config(t, "")
	if out, errOut, code := harness.Run(t, "init", "--config", cfg); code != 0 {
		t.Fatalf("init: %s%s", out, errOut)
	}
	body, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(body, []byte("keys:\n  backend: pkcs11\n")...), 0o600)
	if _, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", "argus", "--csr", harness.WriteCSR(t, t.TempDir(), "", "m.argus.test")); code == 0 || !strings.Contains(errOut, "created without --pkcs11") {
		t.Errorf("software CA with keys.backend pkcs11: %d %s", code, errOut)
	}
}
