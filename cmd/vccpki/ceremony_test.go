package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOfflineRootFlags: init --offline-root refuses what would put the
// root key where serve can see it, or lose it, before anything is made;
// the root CRL settings have their defaults and read from the file.
func TestOfflineRootFlags(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "c.yaml")
	profiles, _ := filepath.Abs("../../configs/profiles")
	if err := os.WriteFile(cfg, []byte("data: data\nprofiles: "+profiles+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(rootPassphraseEnv, "")
	t.Setenv(rootPINEnv, "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"root dir without offline root", []string{"--root-dir", filepath.Join(dir, "r")}, "--root-dir goes with --offline-root"},
		{"offline root without a root dir", []string{"--offline-root"}, "needs --root-dir"},
		{"root dir is the data directory", []string{"--offline-root", "--root-dir", data}, "must not be the data directory"},
		{"no root passphrase", []string{"--offline-root", "--root-dir", filepath.Join(dir, "r")}, "its own passphrase"},
		{"root token without offline root", []string{"--root-pkcs11-module", "/nonexistent.so", "--root-pkcs11-token", "t"}, "go with --offline-root"},
		{"root token module without label", []string{"--offline-root", "--root-dir", filepath.Join(dir, "r"), "--root-pkcs11-module", "/nonexistent.so"}, "go together"},
		{"root token and shares", []string{"--offline-root", "--root-dir", filepath.Join(dir, "r"), "--root-pkcs11-module", "/nonexistent.so", "--root-pkcs11-token", "t", "--root-shares", "3", "--root-threshold", "2"}, "not both"},
		{"root token without a PIN", []string{"--offline-root", "--root-dir", filepath.Join(dir, "r"), "--root-pkcs11-module", "/nonexistent.so", "--root-pkcs11-token", "t"}, "user PIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := dispatch(context.Background(), append([]string{"init", "--config", cfg}, tc.args...), &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "r", "offline-root.json")); err == nil {
				t.Error("a root directory was written")
			}
		})
	}

	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.rootCRLValidity() != 90*24*time.Hour || c.rootCRLWarnBefore() != 14*24*time.Hour {
		t.Errorf("defaults: %v %v", c.rootCRLValidity(), c.rootCRLWarnBefore())
	}
	if err := os.WriteFile(cfg, []byte("crl:\n  root_validity: 30d\n  root_warn_before: 7d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = loadConfig(cfg); err != nil || c.rootCRLValidity() != 30*24*time.Hour || c.rootCRLWarnBefore() != 7*24*time.Hour {
		t.Errorf("from the file: %v %v %v", c.rootCRLValidity(), c.rootCRLWarnBefore(), err)
	}
}
