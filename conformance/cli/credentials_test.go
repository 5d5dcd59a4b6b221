package cli_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestCredentialCommands: eab list/revoke and est user list/remove, on a
// store made by init; secrets are never printed, each withdrawal is
// audited, and unknown names are refused.
func TestCredentialCommands(t *testing.T) {
	t.Parallel()
	cfg, _ := harness.Config(t, "")
	if out, errOut, code := harness.Run(t, "init", "--config", cfg); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	out, errOut, code := harness.Run(t, "eab", "create", "--config", cfg, "--service", "argus", "--json")
	var eab struct{ KID, HMAC string }
	if code != 0 || json.Unmarshal([]byte(out), &eab) != nil || eab.KID == "" {
		t.Fatalf("eab create before any serve: %d %s %s", code, out, errOut)
	}
	if out, _, code := harness.Run(t, "est", "user", "add", "--config", cfg, "--service", "argus", "--user", "device-7"); code != 0 {
		t.Fatalf("est user add: %d %s", code, out)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		want     string
		mustNot  string // a secret that must never be printed
		wantJSON bool
	}{
		{"eab list", []string{"eab", "list"}, 0, eab.KID + "  argus", eab.HMAC, false},
		{"eab list --json", []string{"eab", "list", "--json"}, 0, `"kid": "` + eab.KID + `"`, eab.HMAC, true},
		{"est user list", []string{"est", "user", "list"}, 0, "device-7  argus", "$argon2id", false},
		{"eab revoke needs --kid", []string{"eab", "revoke"}, 2, "needs --kid", "", false},
		{"eab revoke", []string{"eab", "revoke", "--kid", eab.KID}, 0, "no account had used it", "", false},
		{"eab revoke again", []string{"eab", "revoke", "--kid", eab.KID}, 1, "no EAB key", "", false},
		{"est user remove", []string{"est", "user", "remove", "--user", "device-7"}, 0, "removed", "", false},
		{"est user remove again", []string{"est", "user", "remove", "--user", "device-7"}, 1, "no EST user", "", false},
		{"eab list after revocation", []string{"eab", "list"}, 0, "KID", eab.KID, false},
		{"audit verify", []string{"audit", "verify"}, 0, "chain intact", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := harness.Run(t, append(slices.Clone(tc.args), "--config", cfg)...)
			all := out + errOut
			if code != tc.code || !strings.Contains(all, tc.want) || (tc.mustNot != "" && strings.Contains(all, tc.mustNot)) {
				t.Errorf("exit %d (want %d), want %q and not %q in:\n%s", code, tc.code, tc.want, tc.mustNot, all)
			}
			if tc.wantJSON && !json.Valid([]byte(out)) {
				t.Errorf("not JSON:\n%s", out)
			}
		})
	}
}
