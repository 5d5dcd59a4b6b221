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
