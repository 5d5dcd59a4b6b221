package tsa

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vcc/vccpki/internal/testtool"
)

// runTool runs a command and returns its combined output and whether it
// exited with status 0.
func runTool(t *testing.T, name string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(testtool.Need(t, name), args...)
	out, err := cmd.CombinedOutput()
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out), err == nil
}

// TestOpenSSL is the real-client round trip of the issue: openssl makes
// the query, curl posts it, openssl reads and verifies the reply, for
// every hash, with and without -cert and a nonce; a changed file fails.
func TestOpenSSL(t *testing.T) {
	for _, hash := range []string{"sha256", "sha384", "sha512"} {
		for _, certReq := range []bool{true, false} {
			for _, nonce := range []bool{true, false} {
				name := fmt.Sprintf("%s cert=%v nonce=%v", hash, certReq, nonce)
				t.Run(name, func(t *testing.T) { openSSLRoundTrip(t, hash, certReq, nonce, "") })
			}
		}
	}
	t.Run("sha256 asking for the second policy", func(t *testing.T) { openSSLRoundTrip(t, "sha256", true, true, otherOID.String()) })
}

func openSSLRoundTrip(t *testing.T, hash string, certReq, nonce bool, policy string) {
	dir := t.TempDir()
	data := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(data, []byte("Clara adapter weights "+t.Name()), 0o644); err != nil {
		t.Fatal(err)
	}
	query, reply := filepath.Join(dir, "q.tsq"), filepath.Join(dir, "r.tsr")
	args := []string{"ts", "-query", "-data", data, "-" + hash, "-out", query}
	if certReq {
		args = append(args, "-cert")
	}
	if !nonce {
		args = append(args, "-no_nonce")
	}
	wantPolicy := policyOID.String()
	if policy != "" {
		args, wantPolicy = append(args, "-tspolicy", policy), policy
	}
	if out, ok := runTool(t, "openssl", args...); !ok {
		t.Fatalf("openssl ts -query: %s", out)
	}
	captureSeed(t, query)
	if out, ok := runTool(t, "curl", "-sS", "--fail", "-H", "Content-Type: application/timestamp-query",
		"--data-binary", "@"+query, "-o", reply, tsaURL); !ok {
		t.Fatalf("curl: %s", out)
	}

	text, ok := runTool(t, "openssl", "ts", "-reply", "-in", reply, "-text")
	if !ok {
		t.Fatalf("openssl ts -reply -text: %s", text)
	}
	queryText, _ := runTool(t, "openssl", "ts", "-query", "-in", query, "-text")
	wantNonce := "Nonce: unspecified"
	if nonce {
		m := regexp.MustCompile(`Nonce: (0x[0-9A-F]+)`).FindStringSubmatch(queryText)
		if m == nil {
			t.Fatalf("no nonce in the query:\n%s", queryText)
		}
		wantNonce = "Nonce: " + m[1]
	}
	for _, want := range []string{
		"Status: Granted.",
		"Policy OID: " + wantPolicy,
		"Hash Algorithm: " + hash,
		wantNonce,
		"TSA: DirName:/C=DE/O=VCC/CN=VCC Time-Stamp Authority",
		"Accuracy: 0x01 seconds, 0x01F4 millis, unspecified micros",
		"Ordering: no",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl ts -reply -text lacks %q:\n%s", want, text)
		}
	}
	// genTime has sub-second precision: "Time stamp: Nov 22 12:00:00.123 2026 GMT"
	// (a whole second prints without fraction, one run in a thousand).
	if !regexp.MustCompile(`Time stamp: \w+ +\d+ \d\d:\d\d:\d\d(\.\d+)? \d{4} GMT`).MatchString(text) {
		t.Errorf("no genTime in:\n%s", text)
	}

	verify := []string{"ts", "-verify", "-in", reply, "-CAfile", rootPEM}
	if !certReq {
		verify = append(verify, "-untrusted", chainPEM)
	}
	if out, ok := runTool(t, "openssl", append(verify, "-data", data)...); !ok || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify -data: %s", out)
	}
	if out, ok := runTool(t, "openssl", append(verify, "-queryfile", query)...); !ok || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify -queryfile: %s", out)
	}
	changed := filepath.Join(dir, "changed.bin")
	orig, _ := os.ReadFile(data)
	if err := os.WriteFile(changed, append(bytes.Clone(orig), '!'), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, ok := runTool(t, "openssl", append(verify, "-data", changed)...); ok || strings.Contains(out, "Verification: OK") {
		t.Fatalf("a changed file verified:\n%s", out)
	}
}

// TestOpenSSLReadsRefusals: openssl understands our rejections: status,
// the message, and the failure info.
func TestOpenSSLReadsRefusals(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "f")
	os.WriteFile(data, []byte("x"), 0o644)
	query, reply := filepath.Join(dir, "q.tsq"), filepath.Join(dir, "r.tsr")
	if out, ok := runTool(t, "openssl", "ts", "-query", "-data", data, "-sha1", "-out", query); !ok {
		t.Fatalf("openssl ts -query: %s", out)
	}
	captureSeed(t, query)
	if out, ok := runTool(t, "curl", "-sS", "--fail", "-H", "Content-Type: application/timestamp-query",
		"--data-binary", "@"+query, "-o", reply, tsaURL); !ok {
		t.Fatalf("curl: %s", out)
	}
	text, ok := runTool(t, "openssl", "ts", "-reply", "-in", reply, "-text")
	if !ok {
		t.Fatalf("openssl ts -reply -text: %s", text)
	}
	for _, want := range []string{"Status: Rejected.", "SHA-1 message imprints are not accepted", "unrecognized or unsupported algorithm identifier"} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl ts -reply -text lacks %q:\n%s", want, text)
		}
	}
}

// captureSeed copies a query openssl made into the fuzz corpus when
// VCCPKI_CAPTURE_SEEDS is set (see FuzzParseRequest).
func captureSeed(t *testing.T, path string) {
	if os.Getenv("VCCPKI_CAPTURE_SEEDS") == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.NewReplacer("/", "-", " ", "-", "=", "-").Replace(t.Name())
	dst := filepath.Join("testdata", "fuzz", "FuzzParseRequest", name)
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
		t.Fatal(err)
	}
}
