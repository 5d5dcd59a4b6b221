package cli_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/conformance/harness"
)

// TestESTGrant is the operator side of issue 13 item 1: `est grant`
// widens one certificate of one profile by names the profile admits, is
// audited with who did it, is listed, and can be removed.
func TestESTGrant(t *testing.T) {
	t.Parallel()
	cfg, _ := harness.Config(t, "")
	if out, errOut, code := harness.Run(t, "init", "--config", cfg); code != 0 {
		t.Fatalf("init: %s%s", out, errOut)
	}
	dir := t.TempDir()
	out, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", "vpb", "--csr", harness.WriteCSR(t, dir, "", "dev1.vpb.test"))
	if code != 0 {
		t.Fatalf("issue: %d %s", code, errOut)
	}
	serial := ca.FormatSerial(harness.ParsePEMCerts(t, out)[0].SerialNumber)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"13.1 grant needs every flag", []string{"--profile", "vpb", "--serial", serial}, 2, "needs --profile, --serial and --names"},
		{"13.1 grant for an unknown serial", []string{"--profile", "vpb", "--serial", "0badc0de", "--names", "dev2.vpb.test"}, 2, "no certificate with serial 0badc0de"},
		{"13.1 grant in another profile than the certificate's", []string{"--profile", "default", "--serial", serial, "--names", "a.example.internal"}, 2, "issued from profile vpb, not default"},
		{"13.1 grant of a name outside the profile", []string{"--profile", "vpb", "--serial", serial, "--names", "evil.example.com"}, 2, "evil.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := harness.Run(t, append([]string{"est", "grant", "--config", cfg}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errOut, tc.code, tc.msg)
			}
		})
	}
	if out, _, _ := harness.Run(t, "est", "grant", "list", "--config", cfg, "--json"); strings.TrimSpace(out) != "[]" && strings.TrimSpace(out) != "null" {
		t.Fatalf("refused grants were stored: %s", out)
	}
	out, errOut, code = harness.Run(t, "est", "grant", "--config", cfg, "--profile", "vpb", "--serial", strings.ToUpper(serial), "--names", "DEV2.vpb.test, 127.0.0.1,dev2.vpb.test")
	if code != 0 || !strings.Contains(out, "dev2.vpb.test, 127.0.0.1") {
		t.Fatalf("est grant: %d %s%s", code, out, errOut)
	}
	out, _, _ = harness.Run(t, "est", "grant", "list", "--config", cfg, "--json")
	var grants []struct {
		Profile, Serial string
		GrantedBy       string `json:"granted_by"`
		Names           []string
	}
	if err := json.Unmarshal([]byte(out), &grants); err != nil || len(grants) != 1 || grants[0].Serial != serial || !strings.HasPrefix(grants[0].GrantedBy, "local:") ||
		!slices.Equal(grants[0].Names, []string{"dev2.vpb.test", "127.0.0.1"}) {
		t.Fatalf("est grant list: %v\n%s", err, out)
	}
	if out, errOut, code := harness.Run(t, "est", "grant", "remove", "--config", cfg, "--profile", "vpb", "--serial", serial); code != 0 {
		t.Fatalf("est grant remove: %s%s", out, errOut)
	}
	if _, errOut, code := harness.Run(t, "est", "grant", "remove", "--config", cfg, "--profile", "vpb", "--serial", serial); code != 1 || !strings.Contains(errOut, "no EST grant") {
		t.Errorf("removing twice: exit %d %s", code, errOut)
	}
	if out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Errorf("audit verify: %s %s", out, errOut)
	}
}
