package cli_test

import (
	"strings"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestStoreUnreachable: a server pointed at an unreachable database fails
// at start with the reason, without the password (the store field itself
// is read in cmd/vccpki's TestStoreInConfigFile).
func TestStoreUnreachable(t *testing.T) {
	t.Parallel()
	down, _ := harness.Config(t, "store: postgres://vccpki:s3cret@127.0.0.1:1/none?connect_timeout=2\n")
	_, errOut, code := harness.Run(t, "certs", "list", "--config", down)
	if code == 0 || strings.Contains(errOut, "s3cret") || !strings.Contains(errOut, "127.0.0.1") {
		t.Fatalf("certs list on an unreachable database: exit %d\n%s", code, errOut)
	}
}
