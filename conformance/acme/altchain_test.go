package acme_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/conformance/harness"
)

// checkAlternateChain (RFC 8555 §7.4.2): the certificate URL lego stored
// for its renewed, new-generation certificate (legoDir's
// certificates/<domain>.json) links rel="alternate" to the chain through
// the link certificate; fetched with lego's own account key by POST-as-GET
// (lego picks alternates by the top certificate's issuer CN, which both
// chains share), it is leaf, link certificate (new SKI, old AKI), old
// generation, and openssl verifies the leaf with only the old generation
// and the link certificate as untrusted certificates (RFC 5280 §6.1.4 (l):
// the self-issued link certificate does not count against the old
// generation's pathLenConstraint 0).
func checkAlternateChain(t *testing.T, dirURL, rootPath, legoDir, domain string, newLeaf *x509.Certificate, newSKI, oldSKI []byte) {
	t.Helper()
	var meta struct {
		CertURL string `json:"certUrl"`
	}
	readJSON(t, filepath.Join(legoDir, "certificates", domain+".json"), &meta)
	keys, _ := filepath.Glob(filepath.Join(legoDir, "accounts", "*", "*", "keys", "*.key"))
	accts, _ := filepath.Glob(filepath.Join(legoDir, "accounts", "*", "*", "account.json"))
	if len(keys) != 1 || len(accts) != 1 || meta.CertURL == "" {
		t.Fatalf("lego's storage: keys %v, accounts %v, certUrl %q", keys, accts, meta.CertURL)
	}
	var acct struct{ Registration struct{ URI string } }
	readJSON(t, accts[0], &acct)
	kb, err := os.ReadFile(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		t.Fatalf("%s: no PEM", keys[0])
	}
	key, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("lego's account key (P-256 expected): %v", err)
	}
	rb, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rb)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	c := acmetest.NewClient(t, dirURL, hc)
	c.Key, c.Kid = key, acct.Registration.URI

	r := c.Post(meta.CertURL, nil).Must(t, 200)
	var alt string
	for _, l := range r.Header.Values("Link") {
		if u, ok := strings.CutSuffix(l, `>;rel="alternate"`); ok {
			alt = strings.TrimPrefix(u, "<")
		}
	}
	if alt == "" {
		t.Fatalf("the new certificate's URL links no alternate chain: %q", r.Header.Values("Link"))
	}
	chain := harness.ParsePEMCerts(t, string(c.Post(alt, nil).Must(t, 200).Body))
	if len(chain) != 3 || !chain[0].Equal(newLeaf) || string(chain[1].SubjectKeyId) != string(newSKI) ||
		string(chain[1].AuthorityKeyId) != string(oldSKI) || string(chain[2].SubjectKeyId) != string(oldSKI) {
		t.Fatalf("alternate chain of %d certificates; want the leaf, the link certificate (SKI %x, AKI %x) and the old generation", len(chain), newSKI, oldSKI)
	}
	dir := t.TempDir()
	write := func(name string, certs []*x509.Certificate) string {
		var b []byte
		for _, c := range certs {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := []string{"verify", "-CAfile", rootPath, "-untrusted", write("untrusted.pem", chain[1:]), "-purpose", "sslserver", write("leaf.pem", chain[:1])}
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil || !strings.Contains(string(out), ": OK") {
		t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
