package main

import (
	"strings"
	"testing"
)

func TestStoreConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"empty is SQLite", "", "", ""},
		{"sqlite is SQLite", "sqlite", "", ""},
		{"postgres URL", "postgres://vccpki@db:5432/ca?sslmode=verify-full", "postgres://vccpki@db:5432/ca?sslmode=verify-full", ""},
		{"postgresql URL", "postgresql://vccpki@db/ca", "postgresql://vccpki@db/ca", ""},
		{"other scheme", "mysql://root:hunter2@db/ca", "", "neither empty"},
		{"a path", "/var/lib/vccpki/vccpki.db", "", "neither empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := storeConfig(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("storeConfig(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("storeConfig(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestStoreInConfigFile: the store field is read from the file, and a bad
// one names the file and the field.
func TestStoreInConfigFile(t *testing.T) {
	cfg, _ := testConfig(t, "store: postgres://vccpki@127.0.0.1:1/none\n")
	c, err := loadConfig(cfg)
	if err != nil || c.store != "postgres://vccpki@127.0.0.1:1/none" {
		t.Fatalf("loadConfig: store %q, %v", c.store, err)
	}
	bad, _ := testConfig(t, "store: redis://x\n")
	if _, err := loadConfig(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "field store") {
		t.Fatalf("bad store: %v", err)
	}
	// A server pointed at an unreachable database fails at start with the
	// reason, without the password.
	down, _ := testConfig(t, "store: postgres://vccpki:s3cret@127.0.0.1:1/none?connect_timeout=2\n")
	_, errOut, code := run(t, "certs", "list", "--config", down)
	if code == 0 || strings.Contains(errOut, "s3cret") || !strings.Contains(errOut, "127.0.0.1") {
		t.Fatalf("certs list on an unreachable database: exit %d\n%s", code, errOut)
	}
}
