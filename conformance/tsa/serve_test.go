package tsa_test

import (
	"bytes"
	"crypto"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/digitorus/timestamp"
	"github.com/vcc/vccpki/conformance/harness"
)

// TestServeTSA: the real binary serves time-stamps on HTTP and HTTPS to
// openssl and curl, and tsa lookup finds the tokens while it runs.
func TestServeTSA(t *testing.T) {
	for _, tool := range []string{"openssl", "curl"} {
		harness.Tool(t, tool)
	}
	t.Parallel()
	cfg, data := harness.Config(t, "tsa:\n  policies: [1.3.6.1.4.1.32473.3161.9, 1.3.6.1.4.1.32473.3161.10]\n  accuracy: 250ms\n")
	srv := harness.StartServer(t, cfg)
	tsaURL := srv.BannerURL(t, "Time-stamps")
	if !strings.Contains(srv.Banner, "(RFC 3161, policy 1.3.6.1.4.1.32473.3161.9)") {
		t.Fatalf("banner:\n%s", srv.Banner)
	}
	root := filepath.Join(data, "root.pem")
	dir := t.TempDir()
	artefact := filepath.Join(dir, "veritas-pipeline.tar")
	os.WriteFile(artefact, []byte("Veritas pipeline artefact"), 0o644)
	query := filepath.Join(dir, "q.tsq")
	if out, err := exec.Command("openssl", "ts", "-query", "-data", artefact, "-sha384", "-cert", "-out", query).CombinedOutput(); err != nil {
		t.Fatalf("openssl ts -query: %v %s", err, out)
	}
	var serials []string
	for _, url := range []string{tsaURL, srv.HTTPSURL + "/tsa"} {
		reply := filepath.Join(dir, "r.tsr")
		out, err := exec.Command("curl", "-sS", "--fail", "--cacert", root, "-H", "Content-Type: application/timestamp-query",
			"--data-binary", "@"+query, "-o", reply, url).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v %s", url, err, out)
		}
		out, err = exec.Command("openssl", "ts", "-verify", "-data", artefact, "-in", reply, "-CAfile", root).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification: OK") {
			t.Fatalf("openssl ts -verify (%s): %v %s", url, err, out)
		}
		text, _ := exec.Command("openssl", "ts", "-reply", "-in", reply, "-text").CombinedOutput()
		m := regexp.MustCompile(`Serial number: (0x[0-9A-F]+)`).FindStringSubmatch(string(text))
		if m == nil || !strings.Contains(string(text), "Policy OID: 1.3.6.1.4.1.32473.3161.9") || !strings.Contains(string(text), "0xFA millis") {
			t.Fatalf("reply:\n%s", text)
		}
		serials = append(serials, m[1])
	}
	if serials[0] == serials[1] {
		t.Fatalf("two tokens with serial %s", serials[0])
	}

	// tsa lookup, while the server runs.
	out, errOut, code := harness.Run(t, "tsa", "lookup", "--config", cfg, "--serial", serials[1])
	if code != 0 || !strings.Contains(out, "hash:     sha384") || !strings.Contains(out, "policy:   1.3.6.1.4.1.32473.3161.9") {
		t.Errorf("tsa lookup --serial %s: %d\n%s%s", serials[1], code, out, errOut)
	}
	imprint := regexp.MustCompile(`imprint:  ([0-9a-f]+)`).FindStringSubmatch(out)
	if imprint == nil || len(imprint[1]) != 96 {
		t.Fatalf("no SHA-384 imprint in:\n%s", out)
	}
	out, errOut, code = harness.Run(t, "tsa", "lookup", "--config", cfg, "--imprint", imprint[1])
	if code != 0 || strings.Count(out, "serial:") != 2 {
		t.Errorf("tsa lookup --imprint: want both tokens; %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = harness.Run(t, "tsa", "lookup", "--config", cfg, "--file", artefact, "--json")
	if code != 0 || strings.Count(out, `"serial"`) != 2 {
		t.Errorf("tsa lookup --file --json: %d\n%s%s", code, out, errOut)
	}
	os.WriteFile(artefact, []byte("Veritas pipeline artefact, changed"), 0o644)
	if _, errOut, code := harness.Run(t, "tsa", "lookup", "--config", cfg, "--file", artefact); code != 1 || !strings.Contains(errOut, "no time-stamp token recorded") {
		t.Errorf("tsa lookup of a changed file: %d %s", code, errOut)
	}

	srv.Stop(t)
	if out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Errorf("audit verify: %s %s", out, errOut)
	}
}

func TestTSALookupArguments(t *testing.T) {
	t.Parallel()
	cfg, _ := harness.Config(t, "")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"nothing to look up", []string{}, 2, "exactly one of"},
		{"two things to look up", []string{"--serial", "1", "--imprint", "ab"}, 2, "exactly one of"},
		{"bad serial", []string{"--serial", "x1"}, 2, "not a time-stamp serial"},
		{"zero serial", []string{"--serial", "0"}, 2, "not a time-stamp serial"},
		{"bad imprint", []string{"--imprint", "xyz"}, 2, "not hex"},
		{"unknown serial", []string{"--serial", "0x2a"}, 1, "no time-stamp token recorded for serial 42"},
		{"missing data file", []string{"--file", "/nonexistent"}, 1, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := harness.Run(t, append([]string{"tsa", "lookup", "--config", cfg}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d (want %d): %s", code, tc.code, errOut)
			}
		})
	}
}

func TestBadTSAConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		body string
		want string
	}{
		{"bad policy", "tsa:\n  policies: [not.an.oid]\n", "tsa.policies"},
		{"SHA-1", "tsa:\n  hashes: [sha1]\n", "tsa.hashes"},
		{"sub-microsecond accuracy", "tsa:\n  accuracy: 1500ns\n", "accuracy"},
		{"duplicate policy", "tsa:\n  policies: [1.2.3, 1.2.3]\n", "listed twice"},
		{"tiny body limit", "tsa:\n  max_request_bytes: 10\n", "too small"},
		{"unknown field", "tsa:\n  ordering: true\n", "ordering"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "vccpki.yaml")
			os.WriteFile(cfg, []byte(tc.body), 0o600)
			_, errOut, code := harness.Run(t, "profiles", "list", "--config", cfg)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr does not name %q:\n%s", code, tc.want, errOut)
			}
		})
	}
}

// TestServeEd25519WithoutTSA: OpenSSL cannot verify Ed25519 time-stamps,
// so such a hierarchy is served without /tsa, and says so.
func TestServeEd25519WithoutTSA(t *testing.T) {
	t.Parallel()
	cfg, _ := harness.Config(t, "  key_type: ed25519\n")
	srv := harness.StartServer(t, cfg)
	if !strings.Contains(srv.Banner, "Time-stamps      not served: ") || !strings.Contains(srv.Banner, "ECDSA or RSA") {
		t.Fatalf("banner:\n%s\nstderr:\n%s", srv.Banner, srv.Stderr)
	}
}

// TestTSASerialsAfterCrash: serials stay unique when the server is killed
// (SIGKILL, no shutdown) and started again, and every token answered
// before the crash has its record.
func TestTSASerialsAfterCrash(t *testing.T) {
	t.Parallel()
	cfg, _ := harness.Config(t, "")
	seen := map[string]bool{}
	var answered []string
	for round := range 2 {
		srv := harness.StartServer(t, cfg)
		cmd, url := srv.Cmd, srv.BannerURL(t, "Time-stamps")
		for i := range 5 {
			query, err := timestamp.CreateRequest(strings.NewReader(fmt.Sprintf("round %d token %d", round, i)), &timestamp.RequestOptions{Hash: crypto.SHA256})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Post(url, "application/timestamp-query", bytes.NewReader(query))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ts, err := timestamp.ParseResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			serial := ts.SerialNumber.String()
			if seen[serial] {
				t.Fatalf("serial %s handed out twice (round %d)", serial, round)
			}
			seen[serial] = true
			answered = append(answered, serial)
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown at all
			t.Fatal(err)
		}
		srv.Wait()
	}
	for _, serial := range answered {
		if out, errOut, code := harness.Run(t, "tsa", "lookup", "--config", cfg, "--serial", serial); code != 0 || !strings.Contains(out, "serial:   "+serial+" ") {
			t.Errorf("token %s answered before a crash has no record: %s %s", serial, out, errOut)
		}
	}
}
