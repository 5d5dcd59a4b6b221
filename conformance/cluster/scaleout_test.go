package cluster

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"
	"golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/postgres"
)

// TestScaleOutOnPostgres runs three `vccpki serve` instances on one
// PostgreSQL database (issue #8) and checks, in order on the same cluster:
// an ACME issuance whose requests alternate between the instances, a
// revocation at one seen by OCSP at the others, concurrent issuance at
// all three without a serial used twice, and an instance killed with
// SIGKILL in the middle of a load while the clients carry on with the
// others; afterwards every certificate a client received is in the store
// and the one audit chain verifies.
func TestScaleOutOnPostgres(t *testing.T) {
	c := Start(t, 3)
	st, err := postgres.Open(t.Context(), c.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var received sync.Map // serial -> name, every certificate a client got

	t.Run("ACME alternating between instances", func(t *testing.T) {
		b := newBalancer(c)
		core := c.ACMEClient(t, b)
		for i := range 2 {
			leaf, _, err := c.IssueACME(core, fmt.Sprintf("alt-%d.test", i))
			if err != nil {
				t.Fatal(err)
			}
			received.Store(ca.FormatSerial(leaf.SerialNumber), leaf.DNSNames[0])
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		t.Logf("requests per instance %v; nonces spent at another instance than issued them: %d", b.served, b.crossNonce)
		for i, n := range b.served {
			if n == 0 {
				t.Errorf("instance %d served no request", i)
			}
		}
		if b.crossNonce == 0 {
			t.Fatal("no nonce was spent at another instance than the one that issued it")
		}
		// The last request's nonce is spent: replayed at any instance
		// (also another than the one that accepted it), it is refused.
		for i, n := range c.Nodes {
			req, err := http.NewRequest(http.MethodPost, n.HTTPSURL+b.lastURL, bytes.NewReader(b.lastPOST))
			if err != nil {
				t.Fatal(err)
			}
			// The Host the client used, as a balancer passes it on.
			req.Host, _ = strings.CutPrefix(c.Nodes[0].HTTPSURL, "https://")
			req.Header.Set("Content-Type", "application/jose+json")
			resp, err := b.base.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "badNonce") {
				t.Errorf("replayed JWS at instance %d: %d %s, want 400 badNonce", i, resp.StatusCode, body)
			}
		}
	})

	t.Run("revocation at one instance, OCSP at the others", func(t *testing.T) {
		core := c.ACMEClient(t, Pinned(c, 0))
		leaf, issuer, err := c.IssueACME(core, "revoke-me.test")
		if err != nil {
			t.Fatal(err)
		}
		received.Store(ca.FormatSerial(leaf.SerialNumber), "revoke-me.test")
		req, err := ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < 3; i++ {
			if s := ocspStatus(t, c.Nodes[i].HTTPURL, req, leaf, issuer); s != ocsp.Good {
				t.Fatalf("instance %d: status %d before revocation, want good", i, s)
			}
		}
		reason := uint(1)
		der := leaf.Raw
		start := time.Now()
		if err := core.Certificates.Revoke(legoacme.RevokeCertMessage{Certificate: base64.RawURLEncoding.EncodeToString(der), Reason: &reason}); err != nil {
			t.Fatal(err)
		}
		revokedAt := time.Since(start)
		for i := 1; i < 3; i++ {
			deadline := time.Now().Add(30 * time.Second) // generous; the log shows the real delay
			for ocspStatus(t, c.Nodes[i].HTTPURL, req, leaf, issuer) != ocsp.Revoked {
				if time.Now().After(deadline) {
					t.Fatalf("instance %d still answers good 30s after the revocation at instance 0", i)
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("instance %d answers revoked %v after the revoke request returned (revoke took %v)",
				i, time.Since(start)-revokedAt, revokedAt)
		}
		// And every instance's CRL lists it, whichever instance built it.
		for i, n := range c.Nodes {
			harness.Eventually(t, time.Minute, "condition", func() bool { return crlLists(t, n.HTTPURL+"/crl/services.crl", leaf) })
			t.Logf("instance %d's CRL lists it", i)
		}
	})

	t.Run("concurrent issuance at every instance", func(t *testing.T) {
		const perNode, workers = 6, 2
		var mu sync.Mutex
		serials := map[string]string{}
		var wg sync.WaitGroup
		errs := make(chan error, len(c.Nodes)*workers)
		for i := range c.Nodes {
			for w := range workers {
				core := c.ACMEClient(t, Pinned(c, i))
				wg.Go(func() {
					for k := range perNode / workers {
						name := fmt.Sprintf("conc-%d-%d-%d.test", i, w, k)
						leaf, _, err := c.IssueACME(core, name)
						if err != nil {
							errs <- fmt.Errorf("instance %d: %w", i, err)
							return
						}
						serial := ca.FormatSerial(leaf.SerialNumber)
						mu.Lock()
						if other, dup := serials[serial]; dup {
							errs <- fmt.Errorf("serial %s issued twice: %s and %s", serial, other, name)
						}
						serials[serial] = name
						mu.Unlock()
						received.Store(serial, name)
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if len(serials) != len(c.Nodes)*perNode {
			t.Errorf("%d distinct serials, want %d", len(serials), len(c.Nodes)*perNode)
		}
	})

	t.Run("a new instance pre-signs nothing the others signed", func(t *testing.T) {
		var serials []string
		received.Range(func(k, _ any) bool { serials = append(serials, k.(string)); return true })
		certs := len(serials)
		// The running instances store what they sign for each change as
		// they follow the feed; wait until that has caught up.
		harness.Eventually(t, time.Minute, "condition", func() bool {
			rs, err := st.OCSPResponses(t.Context(), ca.ServicesCA, "sha1", serials)
			if err != nil {
				t.Fatal(err)
			}
			revoked := 0
			for _, r := range rs {
				if r.Revoked {
					revoked++
				}
			}
			return len(rs) == certs && revoked == 1
		})
		late := harness.StartServer(t, c.cfg, "--data", t.TempDir())
		var shared, signed float64
		// Until its first pass has a response for every certificate.
		harness.Eventually(t, time.Minute, "condition", func() bool {
			shared, signed = metric(t, late.Metrics, "vccpki_ocsp_presigned_shared_total"), metric(t, late.Metrics, "vccpki_ocsp_presigned_total")
			return shared+signed >= float64(certs)
		})
		t.Logf("the new instance took %v pre-signed responses from the store and signed %v itself", shared, signed)
		if signed != 0 {
			t.Errorf("the new instance signed %v responses the others had signed already", signed)
		}
		// Its CRLs (root, services, code signing): those the others built
		// and stored, none built here.
		var crlShared, crlBuilt float64
		harness.Eventually(t, time.Minute, "condition", func() bool {
			crlShared, crlBuilt = metric(t, late.Metrics, "vccpki_crl_shared_total"), metric(t, late.Metrics, "vccpki_crl_builds_total")
			return crlShared+crlBuilt >= 3
		})
		t.Logf("the new instance took %v CRLs from the store and built %v", crlShared, crlBuilt)
		if crlBuilt != 0 {
			t.Errorf("the new instance built %v CRLs the others had built already", crlBuilt)
		}
		late.Stop(t)
	})

	t.Run("EST failed logins counted across instances", func(t *testing.T) {
		out, errOut, code := harness.Run(t, "est", "user", "add", "--config", c.cfg, "--data", t.TempDir(), "--service", "argus", "--user", "scaleout-agent")
		password, ok := strings.CutPrefix(out[strings.Index(out, "password="):], "password=")
		if code != 0 || !ok {
			t.Fatalf("est user add: exit %d\n%s%s", code, out, errOut)
		}
		password = strings.TrimSpace(password)
		enrol := func(node int, pw string) int {
			req, err := http.NewRequest(http.MethodPost, c.Nodes[node].HTTPSURL+"/.well-known/est/argus/simpleenroll", strings.NewReader("MA=="))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/pkcs10")
			req.SetBasicAuth("scaleout-agent", pw)
			resp, err := (&http.Client{Transport: newBalancer(c).base}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		// The default burst is five failures per user, spread here over
		// two instances; the third instance then refuses the user from its
		// first attempt on, before hashing (issue 13 item 2: the shared
		// token is taken before the hash), even with the right password.
		for i := range 5 {
			if got := enrol(i%2, "wrong"); got != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d, want 401", i+1, got)
			}
		}
		if got := enrol(2, "wrong again"); got != http.StatusTooManyRequests {
			t.Fatalf("first attempt at the third instance: %d, want 429", got)
		}
		if got := enrol(2, password); got != http.StatusTooManyRequests {
			t.Errorf("right password at the third instance after the shared burst: %d, want 429", got)
		}
	})

	t.Run("SIGKILL of an instance under load", func(t *testing.T) {
		b := newBalancer(c)
		const workers = 6
		var (
			issued, failed atomic.Int64
			stop           atomic.Bool
			wg             sync.WaitGroup
			firstErr       atomic.Value
		)
		cores := make([]*api.Core, workers)
		for w := range cores {
			cores[w] = c.ACMEClient(t, b)
		}
		for w := range workers {
			wg.Go(func() {
				for k := 0; !stop.Load(); k++ {
					name := fmt.Sprintf("kill-%d-%d.test", w, k)
					leaf, _, err := c.IssueACME(cores[w], name)
					if err != nil {
						// A request in flight at the killed instance
						// fails; the client starts over, as certbot's
						// next run would.
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					issued.Add(1)
					received.Store(ca.FormatSerial(leaf.SerialNumber), name)
				}
			})
		}
		harness.Eventually(t, time.Minute, "condition", func() bool { return issued.Load() >= 6 })
		kill(t, c.Nodes[1])
		killedAt := issued.Load()
		harness.Eventually(t, time.Minute, "condition", func() bool { return issued.Load() >= killedAt+12 })
		stop.Store(true)
		wg.Wait()
		t.Logf("issued %d certificates (%d before the kill), %d attempts failed (first: %v)", issued.Load(), killedAt, failed.Load(), firstErr.Load())
	})

	t.Run("every certificate received is stored, the audit chain verifies", func(t *testing.T) {
		n := 0
		received.Range(func(k, v any) bool {
			n++
			got, err := st.Certificate(t.Context(), k.(string))
			if err != nil {
				t.Errorf("certificate %s (%s) a client received: %v", k, v, err)
			} else if len(got.Names) == 0 || got.Names[0] != v.(string) {
				t.Errorf("certificate %s: stored names %v, want %s", k, got.Names, v)
			}
			return true
		})
		if n == 0 {
			t.Fatal("no certificate received")
		}
		out, errOut, code := harness.Run(t, "audit", "verify", "--config", c.cfg, "--data", t.TempDir())
		if code != 0 {
			t.Fatalf("vccpki audit verify: exit %d\n%s%s", code, out, errOut)
		}
		entries, err := store.VerifyAudit(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d certificates checked; audit verify: %s(%d entries)", n, strings.TrimSpace(out), entries)
	})
}

func ocspStatus(t *testing.T, httpURL string, req []byte, leaf, issuer *x509.Certificate) int {
	t.Helper()
	resp, err := http.Post(httpURL+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r, err := ocsp.ParseResponseForCert(body, leaf, issuer)
	if err != nil {
		t.Fatalf("OCSP response from %s: %v", httpURL, err)
	}
	return r.Status
}

// metric reads one unlabelled counter from an instance's metrics URL.
func metric(t *testing.T, metricsURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// crlLists reports whether the CRL at url lists cert's serial.
func crlLists(t *testing.T, url string, cert *x509.Certificate) bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, _ := io.ReadAll(resp.Body)
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("CRL from %s: %v", url, err)
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return true
		}
	}
	return false
}
