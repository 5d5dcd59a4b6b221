package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCertsListPages: certs list reads the store a page at a time; with
// pages of two it prints the same certificates, in the same order, as in
// one page, both as JSON and as a table.
func TestCertsListPages(t *testing.T) {
	// init and issue run in process, as the binary would run them.
	t.Setenv("VCCPKI_KEK_PASSPHRASE", "cmd test passphrase, long enough")
	t.Setenv("VCCPKI_CONFIG", "")
	cfg := testConfig(t, "")
	var initOut bytes.Buffer
	if err := dispatch(t.Context(), []string{"init", "--config", cfg}, &initOut); err != nil {
		t.Fatalf("init: %v %s", err, initOut.String())
	}
	dir := t.TempDir()
	for i := range 5 {
		if err := dispatch(t.Context(), []string{"issue", "--config", cfg, "--profile", "argus", "--csr", writeCSR(t, dir, fmt.Sprintf("p%d.argus.test", i))}, io.Discard); err != nil {
			t.Fatalf("issue: %v", err)
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

// writeCSR writes a PEM CSR for a new P-256 key and the given name.
func writeCSR(t *testing.T, dir, name string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "req.csr")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
