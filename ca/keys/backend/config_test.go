package backend

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	rel := func(p string) string {
		if p == "" {
			return ""
		}
		return filepath.Join("/etc/vccpki", p)
	}
	slot := 3
	for _, tc := range []struct {
		name string
		in   Config
		want string // "" for no error
	}{
		{"defaults", Config{}, ""},
		{"pkcs11 with a label", Config{Backend: PKCS11, PKCS11: PKCS11Config{TokenLabel: "ca", SignTimeout: "2d"}}, ""},
		{"unknown backend", Config{Backend: "hsm"}, "keys.backend"},
		{"label and slot", Config{PKCS11: PKCS11Config{TokenLabel: "a", Slot: &slot}}, "token_label or slot"},
		{"bad timeout", Config{PKCS11: PKCS11Config{SignTimeout: "soon"}}, "keys.pkcs11.sign_timeout"},
		{"negative sessions", Config{PKCS11: PKCS11Config{MaxSessions: -1}}, "cannot be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Resolve(rel)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Resolve: %v, want %q", err, tc.want)
			}
		})
	}
	c := Config{PassphraseFile: "pass", PKCS11: PKCS11Config{PINFile: "pin"}}
	if err := c.Resolve(rel); err != nil || c.PassphraseFile != "/etc/vccpki/pass" || c.PKCS11.PINFile != "/etc/vccpki/pin" {
		t.Errorf("paths: %+v, %v", c, err)
	}
	for in, want := range map[string]time.Duration{"": defaultSignTimeout, "none": 0, "90s": 90 * time.Second, "1d": 24 * time.Hour} {
		if d, err := (PKCS11Config{SignTimeout: in}).signTimeout(); err != nil || d != want {
			t.Errorf("sign_timeout %q: %v, %v; want %v", in, d, err, want)
		}
	}
}

// TestPassphrase: a file wins over the environment; without either, only a
// development configuration makes one, in the data directory, once.
func TestPassphrase(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	file := filepath.Join(dir, "pass")
	os.WriteFile(file, []byte("from the file\n"), 0o600)
	t.Setenv("VCCPKI_TEST_KEK", "from the environment")
	if p, err := (Config{PassphraseFile: file, PassphraseEnv: "VCCPKI_TEST_KEK"}).passphrase(dir, log); err != nil || string(p) != "from the file" {
		t.Errorf("file: %q, %v", p, err)
	}
	if p, err := (Config{PassphraseEnv: "VCCPKI_TEST_KEK"}).passphrase(dir, log); err != nil || string(p) != "from the environment" {
		t.Errorf("environment: %q, %v", p, err)
	}
	if _, err := (Config{PassphraseEnv: "VCCPKI_TEST_UNSET"}).passphrase(dir, log); err == nil || !strings.Contains(err.Error(), "$VCCPKI_TEST_UNSET") {
		t.Errorf("none: %v", err)
	}
	dev := Config{PassphraseEnv: "VCCPKI_TEST_UNSET", DevGenerate: true}
	first, err := dev.passphrase(dir, log)
	if err != nil || len(first) < 40 {
		t.Fatalf("development: %q, %v", first, err)
	}
	if again, err := dev.passphrase(dir, log); err != nil || string(again) != string(first) {
		t.Errorf("development, again: %q, %v; want the same", again, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "kek-passphrase.dev")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("development file: %v, %v", fi, err)
	}
}
