package cli_test

import (
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
	_ "modernc.org/sqlite"
)

// TestAdminCommands walks an operator through init, issue, certs list,
// revoke and audit verify on one data directory, then tampers with the
// audit log and expects audit verify to name the entry.
// certView is one row of `vccpki certs list --json`, the shape scripts read.
type certView struct {
	Serial    string    `json:"serial"`
	Profile   string    `json:"profile"`
	Issuer    string    `json:"issuer"`
	Subject   string    `json:"subject"`
	Names     []string  `json:"names"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Status    string    `json:"status"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Requester string    `json:"requester"`
}

func TestAdminCommands(t *testing.T) {
	t.Parallel()
	cfg, data := harness.Config(t, "")
	dir := t.TempDir()

	out, errOut, code := harness.Run(t, "init", "--config", cfg)
	if code != 0 || !strings.Contains(out, "created the CA hierarchy") {
		t.Fatalf("init: %d\n%s%s", code, out, errOut)
	}
	rootPEM, err := os.ReadFile(filepath.Join(data, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if out, _, _ := harness.Run(t, "init", "--config", cfg); !strings.Contains(out, "already initialised") {
		t.Errorf("second init: %s", out)
	}
	harness.AssertNoPlainKeys(t, data)

	// Issue: the certificate, then its chain, as PEM.
	out, errOut, code = harness.Run(t, "issue", "--config", cfg, "--profile", "argus", "--csr", harness.WriteCSR(t, dir, "", "web.argus.test"))
	if code != 0 {
		t.Fatalf("issue: %d %s", code, errOut)
	}
	certs := harness.ParsePEMCerts(t, out)
	if len(certs) != 2 || certs[0].DNSNames[0] != "web.argus.test" || certs[1].Subject.CommonName != "VCC Services CA" {
		t.Fatalf("issue printed %d certificates", len(certs))
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	inter := x509.NewCertPool()
	inter.AddCert(certs[1])
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		t.Fatal(err)
	}
	serial := strings.ToLower(certs[0].SerialNumber.Text(16))

	// A refused issuance exits non-zero with the reason.
	_, errOut, code = harness.Run(t, "issue", "--config", cfg, "--profile", "argus", "--csr", harness.WriteCSR(t, dir, "", "evil.example.com"))
	if code == 0 || !strings.Contains(errOut, "evil.example.com") {
		t.Errorf("refused issue: %d %s", code, errOut)
	}

	list := func(args ...string) []certView {
		out, errOut, code := harness.Run(t, append([]string{"certs", "list", "--config", cfg, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("certs list: %s", errOut)
		}
		var rows []certView
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("certs list --json: %v\n%s", err, out)
		}
		return rows
	}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"all", nil, 1},
		{"by service", []string{"--service", "argus"}, 1},
		{"other service", []string{"--service", "clara"}, 0},
		{"expiring within 30 days", []string{"--expiring", "30d"}, 1},
		{"expiring within an hour", []string{"--expiring", "1h"}, 0},
	} {
		t.Run("certs list "+tc.name, func(t *testing.T) {
			if rows := list(tc.args...); len(rows) != tc.want {
				t.Errorf("%d rows, want %d", len(rows), tc.want)
			}
		})
	}
	if out, _, _ := harness.Run(t, "certs", "list", "--config", cfg); !strings.Contains(out, serial) || !strings.Contains(out, "web.argus.test") {
		t.Errorf("certs list table:\n%s", out)
	}

	if out, errOut, code := harness.Run(t, "revoke", "--config", cfg, "--serial", serial, "--reason", "keyCompromise"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %s %s", code, out, errOut)
	}
	if rows := list(); rows[0].Status != "revoked" {
		t.Errorf("status after revoke = %s", rows[0].Status)
	}
	if _, errOut, code := harness.Run(t, "revoke", "--config", cfg, "--serial", serial); code == 0 || !strings.Contains(errOut, "already revoked") {
		t.Errorf("second revoke: %d %s", code, errOut)
	}
	if out, _, _ := harness.Run(t, "profiles", "list", "--config", cfg); !strings.Contains(out, "clara-signing") || !strings.Contains(out, "code-signing") {
		t.Errorf("profiles list:\n%s", out)
	}

	out, errOut, code = harness.Run(t, "audit", "verify", "--config", cfg)
	if code != 0 || !strings.Contains(out, "audit log OK") {
		t.Fatalf("audit verify: %d %s %s", code, out, errOut)
	}
	m := regexp.MustCompile(`(?m)^head: (\d+):([0-9a-f]{64})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("audit verify printed no head:\n%s", out)
	}
	anchor := m[1] + ":" + m[2]
	for _, tc := range []struct {
		name, anchor string
		code         int
		msg          string
	}{
		{"the head just printed", anchor, 0, "anchor " + m[1] + " matches"},
		{"not SEQ:HASH", "latest", 2, "want SEQ:HASH"},
		{"short hash", m[1] + ":abcd", 2, "64 hex digits"},
		{"another hash", m[1] + ":" + strings.Repeat("0", 64), 3, "not the anchor's"},
		{"beyond the end", "100000:" + m[2], 3, "removed from the end"},
	} {
		t.Run("anchor "+tc.name, func(t *testing.T) {
			out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg, "--anchor", tc.anchor)
			if code != tc.code || !strings.Contains(out+errOut, tc.msg) {
				t.Errorf("audit verify --anchor %s: exit %d, want %d with %q\n%s%s", tc.anchor, code, tc.code, tc.msg, out, errOut)
			}
		})
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	// Cut the end of the log (someone with the file can drop the trigger):
	// the chain alone still verifies; the anchor kept elsewhere does not
	// (the run without it appended a new entry under the anchor's number).
	if _, err := db.Exec(`DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq >= ?`, m[1]); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Fatalf("audit verify after cutting the end, no anchor: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg, "--anchor", anchor); code != 3 || !strings.Contains(errOut, "entry "+m[1]+": the entry's hash is not the anchor's") {
		t.Errorf("audit verify --anchor after cutting the end: exit %d\n%s", code, errOut)
	}

	// Change one stored entry: audit verify fails and names it.
	// The store's triggers refuse updates; someone with the file can drop them.
	if _, err := db.Exec(`DROP TRIGGER audit_log_no_update; UPDATE audit_log SET result = 'ok: nothing to see' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, errOut, code = harness.Run(t, "audit", "verify", "--config", cfg)
	if code != 3 || !strings.Contains(errOut, "entry 3") {
		t.Errorf("audit verify after tampering: exit %d\n%s", code, errOut)
	}
}
