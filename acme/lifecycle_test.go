package acme_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/registration"
	xacme "golang.org/x/crypto/acme"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/ca"
)

func (e *env) revoked(t *testing.T, chainPEM []byte) bool {
	t.Helper()
	info, err := e.engine.Certificate(t.Context(), leafOf(t, chainPEM).SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	return !info.RevokedAt.IsZero()
}

// TestLegoRenewalInfoAndReplaces: lego's ARI support reads the window the
// profile sets (RFC 9773 §4.2), and an order replacing a certificate is
// accepted once (RFC 9773 §5).
func TestLegoRenewalInfoAndReplaces(t *testing.T) {
	e := testEnv
	c, u := e.legoClient(t, useHTTP01, e.dirURL)
	register(t, c, u)
	res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"ari.test"}, Bundle: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := leafOf(t, res.Certificate)
	ri, err := c.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	if err != nil {
		t.Fatalf("renewal info: %v", err)
	}
	prof, _ := e.engine.Profiles().Get("default")
	start, end := prof.RenewalWindow(leaf.NotBefore, leaf.NotAfter)
	if d := ri.SuggestedWindow.Start.Sub(start); d < -time.Second || d > time.Second {
		t.Errorf("window start %v, want %v", ri.SuggestedWindow.Start, start)
	}
	if d := ri.SuggestedWindow.End.Sub(end); d < -time.Second || d > time.Second {
		t.Errorf("window end %v, want %v", ri.SuggestedWindow.End, end)
	}
	if ri.RetryAfter != 6*time.Hour {
		t.Errorf("Retry-After %v, want 6h", ri.RetryAfter)
	}
	if at := ri.ShouldRenewAt(time.Now(), time.Hour); at != nil {
		t.Errorf("a new certificate should not be renewed now; lego says at %v", at)
	}

	certID, err := certificate.MakeARICertID(leaf)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"ari.test"}, Bundle: true, ReplacesCertID: certID})
	if err != nil {
		t.Fatalf("obtain with replaces: %v", err)
	}
	rec, err := e.store.ACMECertificate(t.Context(), ca.FormatSerial(leaf.SerialNumber))
	if err != nil || rec.ReplacedBy == "" {
		t.Fatalf("the replaced certificate is not marked: %+v %v", rec, err)
	}
	// A second replacement is refused with alreadyReplaced; lego then
	// retries without "replaces" and still gets a certificate.
	if _, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"ari.test"}, Bundle: true, ReplacesCertID: certID}); err != nil {
		t.Fatalf("lego's retry after alreadyReplaced: %v", err)
	}

	// A revoked certificate should be renewed now.
	if err := c.Certificate.Revoke(renewed.Certificate); err != nil {
		t.Fatal(err)
	}
	ri, err = c.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leafOf(t, renewed.Certificate)})
	if err != nil {
		t.Fatal(err)
	}
	if at := ri.ShouldRenewAt(time.Now(), time.Hour); at == nil || at.After(time.Now().Add(time.Second)) {
		t.Errorf("a revoked certificate should be renewed now; window %+v", ri.SuggestedWindow)
	}
}

// TestAlreadyReplaced (13.5 "one failed renewal blocks every later one"):
// a certificate counts as replaced only once a replacing order is
// finalized (RFC 9773 §5). A replacement whose validation failed blocks
// nothing; of two pending replacements the first finalized wins and the
// other is refused at finalize with alreadyReplaced, staying ready. Lego
// hides the problem by retrying, so this is a raw client.
func TestAlreadyReplaced(t *testing.T) {
	e := testEnv
	c := newRawClient(t, e.dirURL, e.client())
	c.register(nil).must(t, 201)
	chain, _, _ := c.issue(e.httpPort, "replaced.test")
	certID, err := certificate.MakeARICertID(leafOf(t, chain))
	if err != nil {
		t.Fatal(err)
	}
	order := map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "replaced.test"}}, "replaces": certID}
	replacement := func() *orderObj {
		t.Helper()
		r := c.post(c.url("newOrder"), order).must(t, 201)
		var o orderObj
		var echo struct{ Replaces string }
		r.json(t, &o)
		r.json(t, &echo)
		if echo.Replaces != certID {
			t.Errorf("order echoes replaces %q, want %q", echo.Replaces, certID)
		}
		o.url = r.header.Get("Location")
		return &o
	}
	failed := replacement()
	failValidation(t, c, failed)
	first, second := replacement(), replacement()
	c.authorize(first, e.httpPort)
	c.authorize(second, e.httpPort)
	der, _ := csrFor(t, "replaced.test")
	var o orderObj
	c.post(first.Finalize, map[string]string{"csr": b64.EncodeToString(der)}).must(t, 200).json(t, &o)
	if o.Status != "valid" {
		t.Fatalf("first replacement after finalize: %s", o.Status)
	}
	r := c.post(second.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
	if r.status != 409 || r.prob.Type != "urn:ietf:params:acme:error:alreadyReplaced" {
		t.Fatalf("finalizing the second replacement: HTTP %d %s", r.status, r.body)
	}
	if c.post(second.url, nil).must(t, 200).json(t, &o); o.Status != "ready" {
		t.Errorf("the refused replacement is %s, want ready (unchanged)", o.Status)
	}
	r = c.post(c.url("newOrder"), order)
	if r.status != 409 || r.prob.Type != "urn:ietf:params:acme:error:alreadyReplaced" {
		t.Fatalf("replacing a replaced certificate: HTTP %d %s", r.status, r.body)
	}
	other := newRawClient(t, e.dirURL, e.client())
	other.register(nil).must(t, 201)
	if r := other.post(other.url("newOrder"), order); r.status != 403 {
		t.Fatalf("replacing another account's certificate: HTTP %d %s", r.status, r.body)
	}
}

// failValidation starts the http-01 challenge of o's first authorization
// with nothing listening on the validator's port and waits until the
// order is invalid.
func failValidation(t *testing.T, c *rawClient, o *orderObj) {
	t.Helper()
	var a struct {
		Challenges []struct{ Type, URL string }
	}
	c.post(o.Authorizations[0], nil).must(t, 200).json(t, &a)
	for _, ch := range a.Challenges {
		if ch.Type == "http-01" {
			c.post(ch.URL, map[string]any{}).must(t, 200)
		}
	}
	var got orderObj
	for deadline := time.Now().Add(20 * time.Second); got.Status != "invalid" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		c.post(o.url, nil).must(t, 200).json(t, &got)
	}
	if got.Status != "invalid" {
		t.Fatalf("order with a failed validation is %s, want invalid", got.Status)
	}
}

// TestLegoRevocation revokes once by the account and once by the
// certificate's own key (RFC 8555 §7.6).
func TestLegoRevocation(t *testing.T) {
	e := testEnv
	c, u := e.legoClient(t, useHTTP01, e.dirURL)
	register(t, c, u)
	t.Run("by the account", func(t *testing.T) {
		res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"rev1.test"}, Bundle: true})
		if err != nil {
			t.Fatal(err)
		}
		reason := uint(4) // superseded
		if err := c.Certificate.RevokeWithReason(res.Certificate, &reason); err != nil {
			t.Fatal(err)
		}
		if !e.revoked(t, res.Certificate) {
			t.Fatal("not revoked")
		}
	})
	t.Run("by the certificate key", func(t *testing.T) {
		res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"rev2.test"}, Bundle: true})
		if err != nil {
			t.Fatal(err)
		}
		key, err := certcrypto.ParsePEMPrivateKey(res.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		// An api.Core without a kid signs with the key itself ("jwk").
		core, err := api.New(e.client(), "vccpki-test", e.dirURL, "", key)
		if err != nil {
			t.Fatal(err)
		}
		der := leafOf(t, res.Certificate).Raw
		if err := core.Certificates.Revoke(legoacme.RevokeCertMessage{Certificate: b64.EncodeToString(der)}); err != nil {
			t.Fatal(err)
		}
		if !e.revoked(t, res.Certificate) {
			t.Fatal("not revoked")
		}
		err = core.Certificates.Revoke(legoacme.RevokeCertMessage{Certificate: b64.EncodeToString(der)})
		var pd *legoacme.ProblemDetails
		if !errors.As(err, &pd) || pd.Type != "urn:ietf:params:acme:error:alreadyRevoked" {
			t.Fatalf("second revocation: %v", err)
		}
	})
}

// TestLegoDeactivation: a deactivated account can do nothing more
// (RFC 8555 §7.3.6).
func TestLegoDeactivation(t *testing.T) {
	e := testEnv
	c, u := e.legoClient(t, useHTTP01, e.dirURL)
	register(t, c, u)
	if err := c.Registration.DeleteRegistration(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"gone.test"}})
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) || pd.Type != "urn:ietf:params:acme:error:unauthorized" {
		t.Fatalf("order by a deactivated account: %v", err)
	}
}

// TestKeyRollover rolls an account over to a new key with
// golang.org/x/crypto/acme (lego has no key change) and checks that lego
// finds the account by the new key only (RFC 8555 §7.3.5).
func TestKeyRollover(t *testing.T) {
	e := testEnv
	ctx := t.Context()
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	xc := &xacme.Client{Key: oldKey, DirectoryURL: e.dirURL, HTTPClient: e.client()}
	acct, err := xc.Register(ctx, &xacme.Account{Contact: []string{"mailto:ops@vcc.example"}}, xacme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	// A key that already belongs to another account is refused with 409
	// and that account's URL (RFC 8555 §7.3.5).
	taken, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, err := (&xacme.Client{Key: taken, DirectoryURL: e.dirURL, HTTPClient: e.client()}).Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	var ae *xacme.Error
	if err := xc.AccountKeyRollover(ctx, taken); !errors.As(err, &ae) || ae.StatusCode != 409 || ae.Header.Get("Location") != other.URI {
		t.Fatalf("rollover to another account's key: %v", err)
	}
	if err := xc.AccountKeyRollover(ctx, newKey); err != nil {
		t.Fatalf("key rollover: %v", err)
	}
	for _, tc := range []struct {
		name  string
		key   *ecdsa.PrivateKey
		found bool
	}{{"new key", newKey, true}, {"old key", oldKey, false}} {
		t.Run(tc.name, func(t *testing.T) {
			lc, _ := e.legoClientWithKey(t, tc.key)
			res, err := lc.Registration.ResolveAccountByKey()
			if tc.found && (err != nil || res.URI != acct.URI) {
				t.Fatalf("lookup by the new key: %v %+v", err, res)
			}
			if !tc.found && err == nil {
				t.Fatalf("the old key still finds account %s", res.URI)
			}
		})
	}
}

// TestSecondInstance starts another server on the same store that
// requires external account binding: a nonce from one instance is good
// at the other exactly once, and the EAB requirement is configurable.
func TestSecondInstance(t *testing.T) {
	e := testEnv
	cfg := e.acmeConfig()
	cfg.ExternalAccountRequired = true
	srv2, err := acme.New(context.Background(), cfg, e.engine, e.store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	hs2, err := e.serve(srv2)
	if err != nil {
		t.Fatal(err)
	}
	defer hs2.Close()
	dir2 := hs2.URL + "/acme/directory"

	t.Run("nonce from the other instance", func(t *testing.T) {
		one := newRawClient(t, e.dirURL, e.client())
		two := newRawClient(t, dir2, e.client())
		two.key = one.key
		nonce := one.nonce() // issued by instance 1
		body := two.jws(two.key, "", two.url("newAccount"), map[string]any{"onlyReturnExisting": true}, func(h map[string]any) { h["nonce"] = nonce })
		if r := two.postRaw(two.url("newAccount"), body, "application/jose+json"); r.prob.Type != "urn:ietf:params:acme:error:accountDoesNotExist" {
			t.Fatalf("instance 2 with instance 1's nonce: HTTP %d %s", r.status, r.body)
		}
		body = one.jws(one.key, "", one.url("newAccount"), map[string]any{"onlyReturnExisting": true}, func(h map[string]any) { h["nonce"] = nonce })
		if r := one.postRaw(one.url("newAccount"), body, "application/jose+json"); r.prob.Type != "urn:ietf:params:acme:error:badNonce" {
			t.Fatalf("instance 1 reusing the nonce spent at instance 2: HTTP %d %s", r.status, r.body)
		}
	})
	t.Run("externalAccountRequired", func(t *testing.T) {
		c, u := e.legoClient(t, useHTTP01, dir2)
		if req := c.GetExternalAccountRequired(); !req {
			t.Fatalf("directory meta externalAccountRequired = %v", req)
		}
		_, err := c.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
		var pd *legoacme.ProblemDetails
		if !errors.As(err, &pd) || pd.Type != "urn:ietf:params:acme:error:externalAccountRequired" {
			t.Fatalf("register without EAB: %v", err)
		}
		e.registerEAB(t, c, u, "default")
		if _, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"eab-only.test"}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("directory meta", func(t *testing.T) {
		resp, err := e.client().Get(dir2)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d struct {
			RenewalInfo string `json:"renewalInfo"`
			Meta        struct {
				Profiles                map[string]string `json:"profiles"`
				ExternalAccountRequired bool              `json:"externalAccountRequired"`
				CAAIdentities           []string          `json:"caaIdentities"`
				Website                 string            `json:"website"`
			} `json:"meta"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatal(err)
		}
		for _, p := range e.engine.Profiles().All() {
			_, listed := d.Meta.Profiles[p.Name]
			if listed != p.AllowsProtocol("acme") || (listed && d.Meta.Profiles[p.Name] != p.Description) {
				t.Errorf("profile %s: listed %v with %q", p.Name, listed, d.Meta.Profiles[p.Name])
			}
		}
		if d.RenewalInfo != hs2.URL+"/acme/renewal-info" || !d.Meta.ExternalAccountRequired || d.Meta.Website == "" || len(d.Meta.CAAIdentities) != 1 {
			t.Errorf("directory: %+v", d)
		}
	})
}

// TestRevokeByAuthorizationHolder: an account that did not order a
// certificate but holds valid authorizations for all its names may revoke
// it (RFC 8555 §7.6); one holding only some may not.
func TestRevokeByAuthorizationHolder(t *testing.T) {
	e := testEnv
	alice := newRawClient(t, e.dirURL, e.client())
	alice.register(nil).must(t, 201)
	chain, _, _ := alice.issue(e.httpPort, "held-a.test", "held-b.test")
	der := leafOf(t, chain).Raw
	bob := newRawClient(t, e.dirURL, e.client())
	bob.register(nil).must(t, 201)
	revoke := map[string]any{"certificate": b64.EncodeToString(der)}

	partial, _ := bob.newOrder("held-a.test")
	bob.authorize(partial, e.httpPort)
	if r := bob.post(bob.url("revokeCert"), revoke); r.status != 403 || r.prob.Type != "urn:ietf:params:acme:error:unauthorized" {
		t.Fatalf("revocation with authorizations for some names: %d %s", r.status, r.body)
	}
	rest, _ := bob.newOrder("held-b.test")
	bob.authorize(rest, e.httpPort)
	bob.post(bob.url("revokeCert"), revoke).must(t, 200)
	if !e.revoked(t, chain) {
		t.Fatal("not revoked")
	}
}
