package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

func TestUsageAndBadArguments(t *testing.T) {
	t.Parallel()
	cfg, _ := harness.Config(t, "")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help lists commands", []string{"help"}, 0, "certs list", ""},
		{"no arguments is help", nil, 0, "audit verify", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"group without sub-command", []string{"certs"}, 2, "", "certs list"},
		{"command help", []string{"issue", "--help"}, 0, "-profile", ""},
		{"serve help", []string{"serve", "--help"}, 0, "-va-dns", ""},
		{"unknown flag", []string{"revoke", "--bogus"}, 2, "", "flag provided but not defined"},
		{"stray argument", []string{"audit", "verify", "extra"}, 2, "", `unexpected argument "extra"`},
		{"issue without flags", []string{"issue", "--config", cfg}, 2, "", "needs --profile and --csr"},
		{"revoke with a bad serial", []string{"revoke", "--config", cfg, "--serial", "xyz"}, 1, "", "not a certificate serial"},
		{"revoke with a bad reason", []string{"revoke", "--config", cfg, "--serial", "01", "--reason", "whim"}, 1, "", `"whim" is not a revocation reason`},
		{"issue from a missing file", []string{"issue", "--config", cfg, "--profile", "argus", "--csr", "/nonexistent.csr"}, 1, "", "no such file"},
		{"certs list with a bad duration", []string{"certs", "list", "--config", cfg, "--expiring", "soon"}, 2, "", `"soon" is not a duration`},
		{"revoke before init", []string{"revoke", "--config", cfg, "--serial", "01"}, 1, "", "holds no CA hierarchy"},
		{"13.11 set-public-url without a URL", []string{"ca", "set-public-url", "--config", cfg}, 2, "", "needs a URL"},
		{"13.11 set-public-url with https", []string{"ca", "set-public-url", "--config", cfg, "https://ca.vcc.test"}, 2, "", "must be an absolute http:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := harness.Run(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic:") {
				t.Errorf("stack trace in output:\n%s", errOut)
			}
		})
	}
}

func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badProfiles := filepath.Join(dir, "profiles")
	if err := os.MkdirAll(badProfiles, 0o700); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile("../../configs/profiles/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(badProfiles, "default.yaml"), good, 0o600)
	os.WriteFile(filepath.Join(badProfiles, "broken.yaml"), []byte("description: x\nissuer: services\nvalidity: forever\n"), 0o600)
	for _, tc := range []struct {
		name string
		body string
		want []string
	}{
		{"unknown field", "data: d\nlisten: 1\n", []string{"vccpki.yaml", "listen"}},
		{"bad duration", "hierarchy:\n  root: {validity: ages}\n", []string{"vccpki.yaml", `"ages" is not a duration`}},
		{"bad key type", "hierarchy:\n  key_type: dsa-1024\n", []string{"vccpki.yaml", "hierarchy.key_type", "dsa-1024"}},
		{"bad per-certificate key type", "hierarchy:\n  tsa: {key_type: rsa-512}\n", []string{"hierarchy.tsa.key_type"}},
		{"not YAML", "data: [unclosed\n", []string{"vccpki.yaml"}},
		{"bad public URL", "public_url: ftp://x\n", []string{"vccpki.yaml", "public_url"}},
		{"missing profiles directory", "profiles: /nonexistent/profiles\n", []string{"/nonexistent/profiles"}},
		{"invalid profile template", "profiles: " + badProfiles + "\n", []string{"broken.yaml", "validity"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "vccpki.yaml")
			os.WriteFile(cfg, []byte(tc.body), 0o600)
			_, errOut, code := harness.Run(t, "profiles", "list", "--config", cfg)
			if code == 0 {
				t.Fatal("accepted a bad configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error does not name %q:\n%s", w, errOut)
				}
			}
		})
	}
}
