package acme_test

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestRolloverWithLegoARI: lego obtains a certificate from the Services
// CA; `vccpki ca rollover --name services` gives the CA a new key while
// the server runs; `lego renew` with ARI (on by default in the pinned
// lego; --days 0 so only ARI can ask for renewal) renews once the server
// has taken the rollover up, and the new certificate is signed by the new
// key. Both leaves then pass `openssl verify -crl_check` with the CRL and
// issuer their own URLs name, and `openssl ocsp`. The time from the rollover to lego holding
// the new-key certificate is logged: issue #18's "emergency
// re-certification" for ARI clients (goal: under 5 minutes).
func TestRolloverWithLegoARI(t *testing.T) {
	lego := harness.Lego(t)
	harness.Tool(t, "openssl")
	t.Parallel()
	_, dnsAddr := harness.FakeDNS(t)
	httpPort, tlsPort := harness.FreePort(t), harness.FreePort(t)
	cfg, data := harness.Config(t, "")
	flags := []string{"--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort), "--va-tls-port", strconv.Itoa(tlsPort)}
	srv := harness.StartServer(t, cfg, flags...)
	rootPath := filepath.Join(data, "root.pem")

	out, errOut, code := harness.Run(t, "eab", "create", "--config", cfg, "--service", "argus", "--json")
	var eab struct{ KID, HMAC string }
	if code != 0 || json.Unmarshal([]byte(out), &eab) != nil {
		t.Fatalf("eab create: %d %s %s", code, out, errOut)
	}
	legoDir := t.TempDir()
	const domain = "roll.argus.test"
	legoRun := func(globals []string, args ...string) (string, error) {
		full := append([]string{"--server", srv.HTTPSURL + "/acme/directory", "--accept-tos", "--email", "ops@vcc.example",
			"--path", legoDir, "--domains", domain, "--http", "--http.port", "127.0.0.1:" + strconv.Itoa(httpPort)}, globals...)
		cmd := exec.Command(lego, append(full, args...)...)
		cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+rootPath)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := legoRun([]string{"--eab", "--kid", eab.KID, "--hmac", eab.HMAC}, "run", "--profile", "argus"); err != nil {
		t.Fatalf("lego run: %v\n%s", err, out)
	}
	crt := filepath.Join(legoDir, "certificates", domain+".crt")
	readLeaf := func() *x509.Certificate {
		t.Helper()
		b, err := os.ReadFile(crt)
		if err != nil {
			t.Fatal(err)
		}
		return harness.ParsePEMCerts(t, string(b))[0]
	}
	oldLeaf := readLeaf()

	start := time.Now()
	out, errOut, code = harness.Run(t, "ca", "rollover", "--config", cfg, "--name", "services")
	m := regexp.MustCompile(`subject key identifier ([0-9a-f]+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("ca rollover: %d %s %s", code, out, errOut)
	}
	newSKI, _ := hex.DecodeString(m[1])
	if bytes.Equal(newSKI, oldLeaf.AuthorityKeyId) {
		t.Fatal("the rollover kept the subject key identifier")
	}

	// lego renews as soon as ARI says so: once the server's CA refresh
	// (every 10 s) has seen the rollover. Until then ARI says "not yet".
	var newLeaf *x509.Certificate
	harness.EventuallyEvery(t, 2*time.Minute, time.Second, "lego renews by ARI after the rollover", func() bool {
		out, err := legoRun(nil, "renew", "--days", "0", "--no-random-sleep")
		if err != nil {
			t.Fatalf("lego renew: %v\n%s", err, out)
		}
		if l := readLeaf(); !l.Equal(oldLeaf) {
			newLeaf = l
			return true
		}
		return false
	})
	t.Logf("emergency re-certification with ARI: rollover to lego holding the new-key certificate took %v", time.Since(start).Round(time.Millisecond))
	if !bytes.Equal(newLeaf.AuthorityKeyId, newSKI) {
		t.Fatalf("the renewed certificate's AKI is %x, want the new SKI %x", newLeaf.AuthorityKeyId, newSKI)
	}
	checkAlternateChain(t, srv.HTTPSURL+"/acme/directory", rootPath, legoDir, domain, newLeaf, newSKI, oldLeaf.AuthorityKeyId)

	// The running server serves both generations' CRLs and OCSP answers
	// (the OCSP front end follows the engine's CA changes).
	get := func(u string) []byte {
		t.Helper()
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		// A CRL slot is built shortly after the CA change reaches the
		// front end: 503 with Retry-After until then.
		harness.EventuallyEvery(t, time.Minute, 200*time.Millisecond, "GET "+pu.Path, func() bool {
			resp, err := http.Get(srv.HTTPURL + pu.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ = io.ReadAll(resp.Body)
			switch resp.StatusCode {
			case http.StatusOK:
				return true
			case http.StatusServiceUnavailable:
				return false
			}
			t.Fatalf("GET %s: %d %s", pu.Path, resp.StatusCode, b)
			return false
		})
		return b
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		leaf *x509.Certificate
	}{{"old", oldLeaf}, {"new", newLeaf}} {
		t.Run(tc.name+" leaf", func(t *testing.T) {
			write := func(file, typ string, der []byte) string {
				p := filepath.Join(dir, tc.name+"-"+file)
				if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			issuerDER := get(tc.leaf.IssuingCertificateURL[0])
			issuer, err := x509.ParseCertificate(issuerDER)
			if err != nil || !bytes.Equal(issuer.SubjectKeyId, tc.leaf.AuthorityKeyId) {
				t.Fatalf("the caIssuers URL %s serves a certificate with SKI %x, want %x (%v)", tc.leaf.IssuingCertificateURL[0], issuer.SubjectKeyId, tc.leaf.AuthorityKeyId, err)
			}
			args := []string{"verify", "-crl_check", "-CAfile", rootPath,
				"-untrusted", write("issuer.pem", "CERTIFICATE", issuerDER),
				"-CRLfile", write("crl.pem", "X509 CRL", get(tc.leaf.CRLDistributionPoints[0])),
				write("leaf.pem", "CERTIFICATE", tc.leaf.Raw)}
			if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil || !strings.Contains(string(out), ": OK") {
				t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			// OCSP: the generation that issued the leaf answers, signed by
			// its delegated responder (the current one) or by itself (the
			// retired one), and openssl accepts either (RFC 6960 §4.2.2.2).
			pu, err := url.Parse(tc.leaf.OCSPServer[0])
			if err != nil {
				t.Fatal(err)
			}
			args = []string{"ocsp", "-issuer", filepath.Join(dir, tc.name+"-issuer.pem"), "-cert", filepath.Join(dir, tc.name+"-leaf.pem"),
				"-url", srv.HTTPURL + pu.Path, "-CAfile", rootPath, "-no_nonce"}
			out, err := exec.Command("openssl", args...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Response verify OK") || !strings.Contains(string(out), "leaf.pem: good") {
				t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// TestRolloverWithCertbotRecipe: the emergency procedure for clients
// without ARI. A certbot client enrolled with the recipe `vccpki enrol`
// prints (obtain.sh, then renew.sh as its timer runs it) holds a
// certificate of the Services CA; `vccpki ca rollover --name services`
// alone does not make it renew (certbot 2.x has no ARI; its
// renew_before_expiry, set by the recipe, is far off), so `vccpki reissue
// --issuer services` revokes the retired generation's certificates
// (locally: no second approval; through the API it waits for one). Once
// OCSP answers "revoked", one renew.sh run gets a certificate from the new
// key: certbot's should_autorenew asks the certificate's OCSP responder
// (certbot/_internal/storage.py ocsp_revoked, certbot/ocsp.py
// RevocationChecker) and renews a revoked certificate. The time from the
// rollover to the new certificate is logged.
func TestRolloverWithCertbotRecipe(t *testing.T) {
	certbot := harness.Tool(t, "certbot")
	openssl := harness.Tool(t, "openssl")
	t.Parallel()
	_, dnsAddr := harness.FakeDNS(t)
	httpPort := harness.FreePort(t)
	work := t.TempDir()
	registry := filepath.Join(work, "services.yaml")
	if err := os.WriteFile(registry, []byte("services:\n  - {name: veritas, protocol: acme, client: certbot, endpoints: [{address: \"127.0.0.1:1\", sni: veritas.test}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, data := harness.Config(t, "fleet:\n  services: "+registry+"\n")
	srv := harness.StartServer(t, cfg, "--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort))
	rootPath := filepath.Join(data, "root.pem")

	recipe, dir := filepath.Join(work, "recipe"), filepath.Join(work, "client")
	if out, errOut, code := harness.Run(t, "enrol", "veritas", "--config", cfg, "--server", srv.HTTPSURL, "--out", recipe); code != 0 {
		t.Fatalf("enrol veritas: exit %d\n%s%s", code, out, errOut)
	}
	script := func(name string) string {
		t.Helper()
		cmd := exec.Command("sh", filepath.Join(recipe, name))
		cmd.Env = append(os.Environ(), "DIR="+dir, "CERTBOT="+certbot, "RELOAD=true", "HTTP_ADDRESS=127.0.0.1", "HTTP_PORT="+strconv.Itoa(httpPort))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	script("obtain.sh")
	live := filepath.Join(dir, "config", "live", "veritas")
	readLeaf := func() *x509.Certificate {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(live, "cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return harness.ParsePEMCerts(t, string(b))[0]
	}
	oldLeaf := readLeaf()

	start := time.Now()
	out, errOut, code := harness.Run(t, "ca", "rollover", "--config", cfg, "--name", "services")
	m := regexp.MustCompile(`subject key identifier ([0-9a-f]+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("ca rollover: %d %s %s", code, out, errOut)
	}
	newSKI, _ := hex.DecodeString(m[1])
	// The running server issues from the new key once its CA refresh has
	// seen the rollover; until then a renewal would still get the old key.
	harness.EventuallyEvery(t, time.Minute, 200*time.Millisecond, "the server serves the new generation's certificate", func() bool {
		resp, err := http.Get(srv.HTTPURL + "/ca/services_2.crt")
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			return true
		}
		return false
	})
	// The rollover alone: certbot's timer run keeps the certificate.
	script("renew.sh")
	if !readLeaf().Equal(oldLeaf) {
		t.Fatal("certbot renewed after the rollover alone: the test cannot tell OCSP's part (renew_before_expiry too long?)")
	}

	out, errOut, code = harness.Run(t, "reissue", "--config", cfg, "--issuer", "services", "--reason", "superseded")
	if code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("reissue --issuer services: exit %d\n%s%s", code, out, errOut)
	}
	pu, err := url.Parse(oldLeaf.OCSPServer[0])
	if err != nil {
		t.Fatal(err)
	}
	harness.EventuallyEvery(t, time.Minute, 500*time.Millisecond, "the server's OCSP answers revoked for the old certificate", func() bool {
		out, _ := exec.Command(openssl, "ocsp", "-issuer", filepath.Join(live, "chain.pem"), "-cert", filepath.Join(live, "cert.pem"),
			"-url", srv.HTTPURL+pu.Path, "-CAfile", rootPath, "-no_nonce").CombinedOutput()
		return strings.Contains(string(out), "cert.pem: revoked")
	})
	revokedAfter := time.Since(start)

	// The next timer run.
	script("renew.sh")
	newLeaf := readLeaf()
	if newLeaf.Equal(oldLeaf) {
		t.Fatal("renew.sh kept the revoked certificate")
	}
	if !bytes.Equal(newLeaf.AuthorityKeyId, newSKI) {
		t.Fatalf("the renewed certificate's AKI is %x, want the new SKI %x", newLeaf.AuthorityKeyId, newSKI)
	}
	logb, _ := os.ReadFile(filepath.Join(dir, "logs", "letsencrypt.log"))
	if !strings.Contains(string(logb), "Should renew, certificate is revoked.") {
		t.Errorf("certbot's log does not say it renewed because the certificate is revoked:\n%s", logb)
	}
	t.Logf("emergency re-certification without ARI (certbot %s): rollover to OCSP revoked %v, to certbot holding the new-key certificate %v (plus up to the timer interval, fleet.MaxRenewCheck, in the field)",
		certbotVersion(t, certbot), revokedAfter.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

func certbotVersion(t *testing.T, certbot string) string {
	out, err := exec.Command(certbot, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("certbot --version: %v\n%s", err, out)
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "certbot "))
}
