package acme_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"
	pebbleca "github.com/letsencrypt/pebble/v2/ca"
	pebbledb "github.com/letsencrypt/pebble/v2/db"
	pebbleva "github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/vcc/vccpki/acme/acmetest"
)

// pebble runs letsencrypt/pebble in-process, validating through the same
// fake DNS and on the same loopback ports as our server.
type pebble struct {
	srv *httptest.Server
	db  *pebbledb.MemoryStore
	n   int
}

func (e *env) startPebble(t *testing.T) *pebble {
	t.Helper()
	// Read by pebble's constructors: no random validation sleeps, no
	// deliberately rejected nonces, no authorization reuse.
	for k, v := range map[string]string{"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"} {
		t.Setenv(k, v)
	}
	logger := log.New(io.Discard, "", 0)
	db := pebbledb.NewMemoryStore()
	ca := pebbleca.New(logger, db, "", "ecdsa", 0, 1, map[string]pebbleca.Profile{"default": {Description: "default"}})
	va := pebbleva.New(logger, e.HTTPPort, e.TLSPort, false, e.DNSAddr, db)
	w := wfe.New(logger, db, va, ca, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)
	srv := httptest.NewTLSServer(w.Handler())
	t.Cleanup(srv.Close)
	return &pebble{srv: srv, db: db}
}

func (p *pebble) target(e *env) acmetest.Target {
	return acmetest.Target{DirURL: p.srv.URL + wfe.DirectoryPath, Client: p.srv.Client(), HTTPPort: e.HTTPPort, NewEAB: func(t *testing.T) (string, string) {
		p.n++
		kid := fmt.Sprintf("pebble-kid-%d", p.n)
		key := b64.EncodeToString([]byte(fmt.Sprintf("pebble test hmac key number %04d", p.n)))
		if err := p.db.AddExternalAccountKeyByID(kid, key); err != nil {
			t.Fatal(err)
		}
		return kid, key
	}}
}

// outcome of a step: "ok" or the problem type that stopped it.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var pd *legoacme.ProblemDetails
	if errors.As(err, &pd) {
		return strings.TrimPrefix(pd.Type, "urn:ietf:params:acme:error:")
	}
	return "error: " + err.Error()
}

// legoScenario drives one server through the lego scenario with
// the lego library and returns the outcome of every step.
func (e *env) legoScenario(t *testing.T, tg acmetest.Target) []string {
	var steps []string
	step := func(name string, err error) {
		steps = append(steps, name+": "+outcome(err))
	}
	client := func(kind challengeKind) (*lego.Client, *legoUser) {
		u := &legoUser{}
		u.key, _ = certcrypto.GeneratePrivateKey(certcrypto.EC256)
		cfg := lego.NewConfig(u)
		cfg.CADirURL, cfg.HTTPClient, cfg.Certificate.KeyType = tg.DirURL, tg.Client, certcrypto.EC256
		c, err := lego.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		switch kind {
		case useHTTP01:
			e.setHTTP01(t, c)
		case useDNS01:
			e.setDNS01(t, c)
		case useTLSALPN01:
			e.setTLSALPN01(t, c)
		}
		return c, u
	}
	c, u := client(useHTTP01)
	reg, err := c.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	u.reg = reg
	step("register", err)
	res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"cmp.test"}, Bundle: true})
	step("http-01", err)
	if err != nil {
		return steps
	}
	_, err = c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"127.0.0.1"}, Bundle: true})
	step("IP identifier", err)
	leaf := acmetest.LeafOf(t, res.Certificate)
	_, err = c.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	step("renewal info", err)
	certID, _ := certificate.MakeARICertID(leaf)
	renewed, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"cmp.test"}, Bundle: true, ReplacesCertID: certID})
	step("replaces", err)
	if err == nil {
		step("revoke by account", c.Certificate.Revoke(renewed.Certificate))
		step("revoke again", c.Certificate.Revoke(renewed.Certificate))
	}
	key, _ := certcrypto.ParsePEMPrivateKey(res.PrivateKey)
	core, err := api.New(tg.Client, "vccpki-test", tg.DirURL, "", key)
	if err == nil {
		err = core.Certificates.Revoke(legoacme.RevokeCertMessage{Certificate: b64.EncodeToString(leaf.Raw)})
	}
	step("revoke by certificate key", err)

	ca, ua := client(useTLSALPN01)
	reg, err = ca.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	ua.reg = reg
	step("register for tls-alpn-01", err)
	_, err = ca.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"cmp-alpn.test"}})
	step("tls-alpn-01", err)

	cd, ud := client(useDNS01)
	kid, hmac := tg.NewEAB(t)
	reg, err = cd.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{TermsOfServiceAgreed: true, Kid: kid, HmacEncoded: hmac})
	ud.reg = reg
	step("register with EAB", err)
	_, err = cd.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"*.argus.test", "argus.test"}})
	step("dns-01 wildcard", err)
	step("deactivate", cd.Registration.DeleteRegistration())
	_, err = cd.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"after.argus.test"}})
	step("order after deactivation", err)
	return steps
}

// TestPebbleComparison runs the same lego scenario and the same bad
// requests against pebble and against vccpki: same outcomes, and the same
// problem types except for the differences the RFC allows, each listed
// with its reason in testdata/pebble_differences.json.
func TestPebbleComparison(t *testing.T) {
	e := testEnv
	p := e.startPebble(t)
	pt := p.target(e)

	t.Run("lego scenario", func(t *testing.T) {
		start := time.Now()
		ours := e.legoScenario(t, e.target())
		mid := time.Now()
		theirs := e.legoScenario(t, pt)
		t.Logf("lego scenario: vccpki %v, pebble %v", mid.Sub(start).Round(time.Millisecond), time.Since(mid).Round(time.Millisecond))
		if !slices.Equal(ours, theirs) {
			t.Errorf("outcomes differ:\n vccpki %q\n pebble %q", ours, theirs)
		}
		for _, s := range ours {
			if !strings.HasSuffix(s, ": ok") && s != "revoke again: alreadyRevoked" && s != "order after deactivation: unauthorized" {
				t.Errorf("vccpki step %s", s)
			}
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		raw, err := os.ReadFile("testdata/pebble_differences.json")
		if err != nil {
			t.Fatal(err)
		}
		var allowed map[string]struct{ VCCPKI, Pebble, Reason string }
		if err := json.Unmarshal(raw, &allowed); err != nil {
			t.Fatal(err)
		}
		f := acmetest.NewFixture(t, pt)
		for _, tc := range acmetest.BadRequests(pt) {
			t.Run(tc.Name, func(t *testing.T) {
				r := tc.Send(t, f)
				got := strings.TrimPrefix(r.Prob.Type, "urn:ietf:params:acme:error:")
				if r.Prob.Type == "" {
					got = fmt.Sprintf("HTTP %d without a problem document", r.Status)
				}
				d, listed := allowed[tc.Name]
				switch {
				case got == tc.Type && listed:
					t.Errorf("pebble now answers %s like vccpki: remove the case from testdata/pebble_differences.json", got)
				case got != tc.Type && !listed:
					t.Errorf("pebble answers %s (HTTP %d), vccpki %s: list it in testdata/pebble_differences.json with the reason, or fix vccpki\n%s", got, r.Status, tc.Type, r.Body)
				case got != tc.Type && (d.Pebble != got || d.VCCPKI != tc.Type || d.Reason == ""):
					t.Errorf("testdata/pebble_differences.json says vccpki %s, pebble %s; now pebble %s, vccpki %s", d.VCCPKI, d.Pebble, got, tc.Type)
				}
			})
		}
	})
}

var _ = http.StatusOK
