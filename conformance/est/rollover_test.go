package est_test

import (
	"bytes"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestEstclientAfterRollover: after `vccpki ca rollover --name services`
// on a running server, /cacerts returns both generations of the Services
// CA and the new key's link certificate signed by the old key
// (ca/rollover_link.go), and estclient re-enrols with its certificate of the old generation
// and gets one signed by the new key; openssl verifies both against the
// /cacerts answer, and openssl verifies the new one also through the
// link certificate and the old generation alone (RFC 5280 §6.1.4 (l): the
// self-issued link certificate does not count against the old
// generation's pathLenConstraint 0). The time from the rollover to the client holding the
// new-key certificate is logged (the client is run at once, not by the
// recipe's timer: see docs/ca-lifecycle.md for the timer's worst case).
func TestEstclientAfterRollover(t *testing.T) {
	openssl := harness.Tool(t, "openssl")
	t.Parallel()
	env := startEST(t)
	estclient := harness.ESTClient(t)
	dir := t.TempDir()
	ec := func(args ...string) string {
		t.Helper()
		common := []string{"-server", env.addr, "-explicit", env.rootFile, "-timeout", "30s"}
		return runTool(t, dir, estclient, append(args[:1:1], append(common, args[1:]...)...)...)
	}
	aki := func(file string) []byte {
		t.Helper()
		certs := harness.ParsePEMCerts(t, readFile(t, dir, file))
		return certs[0].AuthorityKeyId
	}
	runTool(t, dir, openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem")
	ec("enroll", "-aps", "argus", "-key", "key.pem", "-dnsnames", "roll.argus.test",
		"-user", "argus-agent", "-pass", env.passwordOf("argus-agent"), "-out", "old.pem")

	start := time.Now()
	out, errOut, code := harness.Run(t, "ca", "rollover", "--config", env.cfg, "--name", "services")
	m := regexp.MustCompile(`subject key identifier ([0-9a-f]+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("ca rollover: %d %s %s", code, out, errOut)
	}
	newSKI, _ := hex.DecodeString(m[1])

	// The server takes the rollover up on its CA refresh (every 10 s).
	harness.EventuallyEvery(t, time.Minute, time.Second, "/cacerts lists both generations and the link certificate", func() bool {
		ec("cacerts", "-aps", "argus", "-out", "cacerts.pem")
		return strings.Count(readFile(t, dir, "cacerts.pem"), "BEGIN CERTIFICATE") == 4
	})
	cas := harness.ParsePEMCerts(t, readFile(t, dir, "cacerts.pem"))
	if !bytes.Equal(cas[0].SubjectKeyId, newSKI) || !bytes.Equal(cas[1].SubjectKeyId, aki("old.pem")) {
		t.Errorf("/cacerts: SKIs %x, %x; want the new generation (%x) then the old (%x)", cas[0].SubjectKeyId, cas[1].SubjectKeyId, newSKI, aki("old.pem"))
	}
	if link := cas[2]; !bytes.Equal(link.SubjectKeyId, newSKI) || !bytes.Equal(link.AuthorityKeyId, aki("old.pem")) || link.CheckSignatureFrom(cas[1]) != nil {
		t.Errorf("/cacerts: third certificate SKI %x AKI %x; want the link certificate (SKI %x, signed by %x)", link.SubjectKeyId, link.AuthorityKeyId, newSKI, aki("old.pem"))
	}
	var oldLink []byte
	for _, c := range cas[1:3] {
		oldLink = append(oldLink, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(filepath.Join(dir, "oldlink.pem"), oldLink, 0o600); err != nil {
		t.Fatal(err)
	}
	ec("reenroll", "-aps", "argus", "-certs", "old.pem", "-key", "key.pem", "-out", "new.pem")
	t.Logf("EST client re-enrolled onto the new key %v after the rollover", time.Since(start).Round(time.Millisecond))
	if !bytes.Equal(aki("new.pem"), newSKI) {
		t.Errorf("the re-enrolled certificate's AKI is %x, want the new SKI %x", aki("new.pem"), newSKI)
	}
	for _, tc := range []struct{ file, untrusted string }{
		{"old.pem", "cacerts.pem"},
		{"new.pem", "cacerts.pem"},
		{"new.pem", "oldlink.pem"}, // the old generation and the link certificate only
	} {
		out := runTool(t, dir, openssl, "verify", "-CAfile", env.rootFile, "-untrusted", tc.untrusted, "-purpose", "sslclient", tc.file)
		if !strings.Contains(out, tc.file+": OK") {
			t.Errorf("openssl verify %s with %s: %s", tc.file, tc.untrusted, out)
		}
	}
}
