package keys_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca/keys/pkcs11/softhsmtest"
	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/store/sqlite"
)

// tokenKeyLabels are the keys vccpki init puts into the token.
var tokenKeyLabels = []string{"root", "services", "code-signing", "admin", "ocsp-services", "ocsp-code-signing", "ocsp-admin", "tsa", "https"}

// TestServeWithKeysInToken creates the hierarchy inside a throwaway
// SoftHSM2 token with vccpki init --pkcs11, checks with pkcs11-tool that
// every key is sensitive and never extractable, and runs the ACME (lego),
// EST (curl + openssl), OCSP (openssl ocsp) and TSA (openssl ts) happy
// paths against one server whose keys live only in the token.
func TestServeWithKeysInToken(t *testing.T) {
	tk := softhsmtest.New(t, "vccpki-ca")
	for _, tool := range []string{"openssl", "curl", "bash"} {
		harness.Tool(t, tool)
	}
	lego := harness.Lego(t)
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(tk.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, data := harness.Config(t, "")

	t.Run("init refuses a wrong PIN and a missing token", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "pin")
		os.WriteFile(bad, []byte("0000\n"), 0o600)
		for _, tc := range []struct {
			name  string
			args  []string
			want  string
			never string // must not appear (the PIN)
		}{
			{"wrong PIN", []string{"--pkcs11-module", tk.Module, "--pkcs11-token", tk.Label, "--pkcs11-pin-file", bad}, "wrong PIN", "0000"},
			{"no such token", []string{"--pkcs11-module", tk.Module, "--pkcs11-token", "absent", "--pkcs11-pin-file", pinFile}, `no token "absent"`, tk.PIN},
			{"no module", []string{"--pkcs11-module", "/nonexistent/p11.so", "--pkcs11-token", tk.Label, "--pkcs11-pin-file", pinFile}, "/nonexistent/p11.so", tk.PIN},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := harness.Config(t, "")
				out, errOut, code := harness.Run(t, append([]string{"init", "--config", c, "--pkcs11"}, tc.args...)...)
				if code == 0 || !strings.Contains(errOut, tc.want) || strings.Contains(out+errOut, tc.never) {
					t.Errorf("exit %d, want an error mentioning %q (and never the PIN):\n%s%s", code, tc.want, out, errOut)
				}
			})
		}
	})

	out, errOut, code := harness.Run(t, "init", "--config", cfg, "--pkcs11", "--pkcs11-module", tk.Module, "--pkcs11-token", tk.Label, "--pkcs11-pin-file", pinFile)
	if code != 0 || !strings.Contains(out, "created the CA hierarchy") {
		t.Fatalf("init --pkcs11: %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, tk.PIN) {
		t.Fatal("init printed the PIN")
	}
	list := tk.Tool(t, "--list-objects", "--type", "privkey")
	for _, label := range tokenKeyLabels {
		if !regexp.MustCompile(`label:\s+` + regexp.QuoteMeta(label) + `-\d+`).MatchString(list) {
			t.Errorf("no %s key in the token:\n%s", label, list)
		}
	}
	if n, m := strings.Count(list, "Private Key Object"), strings.Count(list, "Access:     sensitive, always sensitive, never extractable, local"); n != len(tokenKeyLabels) || m != n {
		t.Errorf("%d private keys, %d of them sensitive and never extractable; want %d of %d:\n%s", n, m, len(tokenKeyLabels), len(tokenKeyLabels), list)
	}
	harness.AssertNoPlainKeys(t, data)
	assertNoKeyMaterialInStore(t, data)

	// The server finds the token from the store's record; only the PIN is
	// needed, from the environment this time.
	t.Setenv("VCCPKI_PKCS11_PIN", tk.PIN)
	_, dnsAddr := harness.FakeDNS(t)
	httpPort := harness.FreePort(t)
	srv := harness.StartServer(t, cfg, "--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort))
	if !strings.Contains(srv.Stderr.String(), "CA keys are in a PKCS#11 token") {
		t.Errorf("the server does not say it uses the token:\n%s", srv.Stderr)
	}
	root := filepath.Join(data, "root.pem")
	dir := t.TempDir()
	sh := func(script string, env ...string) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "VCCPKI_CONFIG=", "ROOT="+root, "VCCPKI="+harness.Binary(t), "CONFIG="+cfg), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s\n%v\n%s", script, err, out)
		}
		return string(out)
	}

	t.Run("ACME with lego", func(t *testing.T) {
		legoDir := t.TempDir()
		cmd := exec.Command(lego, "--server", srv.HTTPSURL+"/acme/directory", "--accept-tos", "--email", "ops@vcc.example",
			"--path", legoDir, "--domains", "hsm-cli.test", "--http", "--http.port", "127.0.0.1:"+strconv.Itoa(httpPort), "run")
		cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("lego run: %v\n%s", err, out)
		}
		crt := filepath.Join(legoDir, "certificates", "hsm-cli.test.crt")
		issuer := filepath.Join(legoDir, "certificates", "hsm-cli.test.issuer.crt")
		if out, err := exec.Command("openssl", "verify", "-CAfile", root, "-untrusted", issuer, crt).CombinedOutput(); err != nil || !strings.Contains(string(out), ": OK") {
			t.Fatalf("openssl verify: %v\n%s", err, out)
		}
	})

	t.Run("EST with curl and openssl", func(t *testing.T) {
		readme, err := os.ReadFile("../../README.md")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile("(?s)<!-- est-curl-begin -->\n```sh\n(.*?)```\n<!-- est-curl-end -->").FindSubmatch(readme)
		if m == nil {
			t.Fatal("README.md has no est-curl block")
		}
		if out := sh(string(m[1]), "EST="+srv.HTTPSURL+"/.well-known/est/argus"); !strings.Contains(out, "host1.pem: OK") {
			t.Fatalf("EST enrolment:\n%s", out)
		}
	})

	t.Run("OCSP with openssl", func(t *testing.T) {
		// host1.pem from the EST step; the responder key is in the token.
		out := sh(`curl -sSf -o services.pem "$HTTP/ca/services.pem"
openssl ocsp -issuer services.pem -cert host1.pem -url "$HTTP/ocsp" -CAfile "$ROOT" -timeout 10`, "HTTP="+srv.HTTPURL)
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "host1.pem: good") {
			t.Fatalf("openssl ocsp:\n%s", out)
		}
	})

	t.Run("TSA with openssl ts", func(t *testing.T) {
		out := sh(`printf 'artefact' > a.bin
openssl ts -query -data a.bin -sha256 -cert -out q.tsq
curl -sSf -H "Content-Type: application/timestamp-query" --data-binary @q.tsq -o r.tsr "$HTTP/tsa"
openssl ts -verify -data a.bin -in r.tsr -CAfile "$ROOT"`, "HTTP="+srv.HTTPURL)
		if !strings.Contains(out, "Verification: OK") {
			t.Fatalf("openssl ts -verify:\n%s", out)
		}
	})

	srv.Stop(t)
	if strings.Contains(srv.Stderr.String(), "level=ERROR") || strings.Contains(srv.Stderr.String(), tk.PIN) {
		t.Errorf("errors (or the PIN) logged:\n%s", srv.Stderr)
	}
	if out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Errorf("audit verify: %s %s", out, errOut)
	}

	t.Run("wrong PIN at start is a clear error", func(t *testing.T) {
		cmd := exec.Command(harness.Binary(t), "serve", "--config", cfg, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "VCCPKI_PKCS11_PIN=0000")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "wrong PIN") {
			t.Errorf("serve with a wrong PIN: %v\n%s", err, out)
		}
	})
}

// assertNoKeyMaterialInStore: the key records of a token hierarchy are
// references (label and CKA_ID), not sealed keys, and there is no KEK.
func assertNoKeyMaterialInStore(t *testing.T, data string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cas, err := st.CAs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cas {
		k, err := st.Key(context.Background(), c.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(k.Sealed, []byte(`{"backend":"pkcs11","label":"`+c.KeyID+`"`)) {
			t.Errorf("key record %s is not a token reference: %q", c.KeyID, k.Sealed)
		}
	}
	if _, err := st.Key(context.Background(), "kek"); err == nil {
		t.Error("a token hierarchy has a KEK record")
	}
}
