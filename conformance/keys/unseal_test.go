package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

var shareLine = regexp.MustCompile(`(?m)^share \d+: (VKS1-\S+)$`)

func sharesOf(t *testing.T, out string) []string {
	t.Helper()
	var s []string
	for _, m := range shareLine.FindAllStringSubmatch(out, -1) {
		s = append(s, m[1])
	}
	if len(s) == 0 {
		t.Fatalf("no shares printed:\n%s", out)
	}
	return s
}

// forge returns a share of the same split with a wrong value: it passes
// every check but the final one.
func forge(t *testing.T, text string) string {
	s, err := shamir.ParseShare(text)
	if err != nil {
		t.Fatal(err)
	}
	s.Y[5] ^= 0x21
	return s.String()
}

// TestUnsealCeremony: init splits the KEK into shares; the server starts
// sealed with only /healthz; vccpki unseal takes shares one holder at a
// time and refuses mistyped, foreign, duplicate and wrong ones; seal wipes
// and seals again; rekey makes new shares and retires the old ones; every
// attempt is in the audit log, and no share is.
func TestUnsealCeremony(t *testing.T) {
	t.Parallel()
	cfg, data := harness.Config(t, "")
	t.Run("init refuses bad splits", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"shares without threshold", []string{"--shares", "3"}},
			{"threshold 1", []string{"--shares", "3", "--threshold", "1"}},
			{"threshold above shares", []string{"--shares", "2", "--threshold", "3"}},
			{"with a token", []string{"--shares", "3", "--threshold", "2", "--pkcs11"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := harness.Config(t, "")
				if out, errOut, code := harness.Run(t, append([]string{"init", "--config", c}, tc.args...)...); code != 2 {
					t.Errorf("exit %d, want 2:\n%s%s", code, out, errOut)
				}
			})
		}
	})
	out, errOut, code := harness.RunWithInput(t, "", "init", "--config", cfg, "--shares", "3", "--threshold", "2")
	if code != 0 {
		t.Fatalf("init --shares: %d\n%s%s", code, out, errOut)
	}
	shares := sharesOf(t, out)
	if len(shares) != 3 || !strings.Contains(out, "any 2 of them unseal it") {
		t.Fatalf("init output:\n%s", out)
	}
	other, _ := harness.Config(t, "")
	otherOut, _, _ := harness.RunWithInput(t, "", "init", "--config", other, "--shares", "2", "--threshold", "2")
	foreign := sharesOf(t, otherOut)[0]
	if _, errOut, code := harness.Run(t, "issue", "--config", cfg, "--profile", "argus", "--csr", harness.WriteCSR(t, t.TempDir(), "", "x.argus.test")); code == 0 || !strings.Contains(errOut, "unsealed with shares") {
		t.Errorf("issue on a shared key store: %d %s", code, errOut)
	}

	srv := harness.StartServer(t, cfg)
	if !strings.Contains(srv.Banner, "SEALED") {
		t.Fatalf("banner:\n%s", srv.Banner)
	}
	rootPEM, err := os.ReadFile(filepath.Join(data, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	// No kept-alive connections: each HTTPS request makes a handshake,
	// which a sealed server refuses.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	get := func(url string) (int, string) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tsq, err := timestamp.CreateRequest(strings.NewReader("artefact"), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		t.Fatal(err)
	}
	stamp := func() int {
		resp, err := client.Post(srv.HTTPURL+"/tsa", "application/timestamp-query", bytes.NewReader(tsq))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			if _, err := timestamp.ParseResponse(body); err != nil {
				t.Errorf("time-stamp: %v", err)
			}
		}
		return resp.StatusCode
	}
	sealedNow := func(t *testing.T) {
		t.Helper()
		if code, body := get(srv.HTTPURL + "/healthz"); code != http.StatusServiceUnavailable || body != "sealed\n" {
			t.Errorf("/healthz while sealed: %d %q", code, body)
		}
		if code, _ := get(srv.HTTPURL + "/ca/root.crt"); code != http.StatusServiceUnavailable {
			t.Errorf("/ca/root.crt while sealed: %d", code)
		}
		if code := stamp(); code != http.StatusServiceUnavailable {
			t.Errorf("TSA while sealed: %d", code)
		}
		if code, body := get(srv.HTTPSURL + "/acme/directory"); code != 0 {
			t.Errorf("HTTPS answered while sealed: %d %s", code, body)
		}
	}
	unsealedNow := func(t *testing.T) {
		t.Helper()
		if code, body := get(srv.HTTPURL + "/healthz"); code != http.StatusOK || body != "ok\n" {
			t.Errorf("/healthz when unsealed: %d %q", code, body)
		}
		if code := stamp(); code != http.StatusOK {
			t.Errorf("TSA when unsealed: %d", code)
		}
		if code, body := get(srv.HTTPSURL + "/acme/directory"); code != http.StatusOK {
			t.Errorf("ACME directory when unsealed: %d %s", code, body)
		}
		// 13.12: after a seal ACME has reopened its nonce key and
		// issues nonces again.
		resp, err := client.Head(srv.HTTPSURL + "/acme/new-nonce")
		if err != nil {
			t.Fatalf("ACME new-nonce when unsealed: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Replay-Nonce") == "" {
			t.Errorf("ACME new-nonce when unsealed: %d, Replay-Nonce %q", resp.StatusCode, resp.Header.Get("Replay-Nonce"))
		}
	}
	sealedNow(t)

	shareFile := filepath.Join(t.TempDir(), "share")
	os.WriteFile(shareFile, []byte(shares[2]+"\n"), 0o600)
	mistyped := []byte(shares[0])
	mistyped[10] ^= 1
	type step struct {
		name  string
		stdin string
		args  []string // the command word first, then its flags
		code  int
		want  string
	}
	ceremony := func(t *testing.T, steps []step) {
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				args := append([]string{st.args[0], "--config", cfg}, st.args[1:]...)
				out, errOut, code := harness.RunWithInput(t, st.stdin, args...)
				if code != st.code || !strings.Contains(out+errOut, st.want) {
					t.Fatalf("exit %d, want %d with %q:\n%s%s", code, st.code, st.want, out, errOut)
				}
			})
		}
	}
	unseal := func(name, stdin string, code int, want string, extra ...string) step {
		return step{name, stdin, append([]string{"unseal"}, extra...), code, want}
	}
	t.Run("unseal", func(t *testing.T) {
		ceremony(t, []step{
			unseal("a mistyped share", string(mistyped)+"\n", 2, "check digits do not match"),
			unseal("a share of another CA", foreign+"\n", 1, "another share split"),
			unseal("no share at all", "\n", 1, "no share given"),
			unseal("the first holder", shares[0]+"\n", 0, "1 of 2 given; 1 more needed"),
			unseal("the same share again", shares[0]+"\n", 1, "already given"),
			{"status", "", []string{"unseal", "--status"}, 0, "sealed (1 of 2 shares given)"},
			{"reset", "", []string{"unseal", "--reset"}, 0, "discarded 1 shares"},
			unseal("the first holder again", shares[0]+"\n", 0, "1 of 2 given"),
			unseal("the third holder, from a file", "", 0, "unsealed", "--share-file", shareFile),
			unseal("once unsealed", shares[1]+"\n", 1, "already unsealed"),
		})
	})
	unsealedNow(t)

	t.Run("seal", func(t *testing.T) {
		ceremony(t, []step{{"seal", "", []string{"seal"}, 0, "server: sealed (0 of 2"}})
	})
	sealedNow(t)

	var newShares []string
	t.Run("rekey", func(t *testing.T) {
		one := filepath.Join(t.TempDir(), "one")
		os.WriteFile(one, []byte(shares[1]), 0o600)
		ceremony(t, []step{
			{"one current share", "", []string{"rekey", "--shares", "4", "--threshold", "3", "--share-file", one}, 2, "rekey needs 2 current shares, got 1"},
			{"a foreign share", foreign + "\n", []string{"rekey", "--shares", "4", "--threshold", "3", "--share-file", one, "--share-file", "-"}, 2, "another share split"},
		})
		out, errOut, code := harness.RunWithInput(t, shares[1]+"\n"+shares[2]+"\n", "rekey", "--config", cfg, "--shares", "4", "--threshold", "3")
		if code != 0 || !strings.Contains(out, "old shares") {
			t.Fatalf("rekey: %d\n%s%s", code, out, errOut)
		}
		newShares = sharesOf(t, out)
		if len(newShares) != 4 {
			t.Fatalf("%d new shares", len(newShares))
		}
	})

	t.Run("unseal after rekey", func(t *testing.T) {
		ceremony(t, []step{
			unseal("an old share", shares[0]+"\n", 1, "another share split"),
			unseal("new share 1", newShares[0]+"\n", 0, "1 of 3 given"),
			unseal("new share 2", newShares[1]+"\n", 0, "2 of 3 given"),
			unseal("a forged share of the new split", forge(t, newShares[2])+"\n", 1, "do not open the key store"),
			{"status after the failure", "", []string{"unseal", "--status"}, 0, "sealed (0 of 3 shares given)"},
			unseal("new share 4", newShares[3]+"\n", 0, "1 of 3"),
			unseal("new share 3", newShares[2]+"\n", 0, "2 of 3"),
			unseal("new share 2 again", newShares[1]+"\n", 0, "unsealed"),
		})
	})
	unsealedNow(t)

	srv.Stop(t)
	if out, errOut, code := harness.Run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Fatalf("audit verify: %s %s", out, errOut)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts := map[string]int{}
	err = st.WalkAudit(context.Background(), func(e store.AuditEntry) error {
		// 13.12: the seal entry says what was dropped, not "wiped".
		if e.Action == "seal" && !strings.Contains(e.Result, "ACME secret-box key and nonce key") {
			t.Errorf("seal entry %d: %q does not name the ACME secrets", e.Seq, e.Result)
		}
		verdict, _, _ := strings.Cut(e.Result, ":")
		counts[e.Action+" "+verdict]++
		for _, s := range append(append([]string{}, shares...), newShares...) {
			value := strings.Split(s, "-")[4]
			if strings.Contains(e.Result, value[:12]) || strings.Contains(e.Actor, value[:12]) {
				t.Errorf("audit entry %d holds a share", e.Seq)
			}
		}
		if strings.HasPrefix(e.Action, "unseal") && !strings.Contains(e.Actor, "(uid ") {
			t.Errorf("unseal entry %d does not name the socket peer: %q", e.Seq, e.Actor)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{
		// A mistyped share or none never reaches the server; a share that
		// completes the threshold is audited as the unseal itself.
		"unseal.share refused":  4,
		"unseal.share accepted": 6,
		"unseal ok":             2,
		"unseal refused":        1,
		"unseal.reset ok":       1,
		"seal ok":               1,
		"rekey ok":              1,
		"rekey refused":         2,
	} {
		if counts[key] != want {
			t.Errorf("audit: %d %q entries, want %d (all: %v)", counts[key], key, want, counts)
		}
	}
}
