package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeysConfigSection(t *testing.T) {
	c, err := loadConfig("../../configs/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.keys.Backend != "" || c.keys.PKCS11.PINEnv != "VCCPKI_PKCS11_PIN" || c.keys.PKCS11.SignTimeout != "5s" {
		t.Errorf("dev.yaml keys: %+v", c.keys)
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown backend", "keys:\n  backend: hsm\n", "keys.backend"},
		{"label and slot", "keys:\n  pkcs11:\n    token_label: a\n    slot: 3\n", "token_label or slot"},
		{"bad timeout", "keys:\n  pkcs11:\n    sign_timeout: soon\n", "keys.pkcs11.sign_timeout"},
		{"negative sessions", "keys:\n  pkcs11:\n    max_sessions: -1\n", "cannot be negative"},
		{"a PIN in the file", "keys:\n  pkcs11:\n    pin: 1234\n", "field pin not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(path, []byte(tc.yaml), 0o600)
			if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
