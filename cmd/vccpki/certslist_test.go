package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestCertsListPages: certs list reads the store a page at a time; with
// pages of two it prints the same certificates, in the same order, as in
// one page, both as JSON and as a table.
func TestCertsListPages(t *testing.T) {
	cfg, _ := testConfig(t, "")
	if out, errOut, code := run(t, "init", "--config", cfg); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	dir := t.TempDir()
	for i := range 5 {
		if _, errOut, code := run(t, "issue", "--config", cfg, "--profile", "argus", "--csr", writeCSR(t, dir, "", fmt.Sprintf("p%d.argus.test", i))); code != 0 {
			t.Fatalf("issue: %d %s", code, errOut)
		}
	}
	list := func(t *testing.T, page int, args ...string) string {
		t.Helper()
		defer func(p int) { certsPage = p }(certsPage)
		certsPage = page
		var out bytes.Buffer
		if err := runCertsList(t.Context(), append([]string{"--config", cfg}, args...), &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"json", []string{"--json"}},
		{"table", nil},
		{"json, one service", []string{"--json", "--service", "argus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole, paged := list(t, 1000, tc.args...), list(t, 2, tc.args...)
			if strings.Contains(strings.Join(tc.args, " "), "--json") {
				var a, b []certView
				if err := json.Unmarshal([]byte(whole), &a); err != nil || len(a) != 5 {
					t.Fatalf("one page: %d rows, %v\n%s", len(a), err, whole)
				}
				if err := json.Unmarshal([]byte(paged), &b); err != nil || fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("pages of two differ from one page (%v):\n%s\n%s", err, whole, paged)
				}
				return
			}
			if strings.Count(whole, "argus.test") != 5 || strings.Count(paged, "argus.test") != 5 {
				t.Fatalf("tables:\n%s\n%s", whole, paged)
			}
		})
	}
}
