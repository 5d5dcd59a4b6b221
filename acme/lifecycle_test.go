package acme_test

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
)

func (e *env) revoked(t *testing.T, chainPEM []byte) bool {
	t.Helper()
	info, err := e.Engine.Certificate(t.Context(), acmetest.LeafOf(t, chainPEM).SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	return !info.RevokedAt.IsZero()
}

// TestAlreadyReplaced (13.5 "one failed renewal blocks every later one"):
// a certificate counts as replaced only once a replacing order is
// finalized (RFC 9773 §5). A replacement whose validation failed blocks
// nothing; of two pending replacements the first finalized wins and the
// other is refused at finalize with alreadyReplaced, staying ready. Lego
// hides the problem by retrying, so this is a raw client.
func TestAlreadyReplaced(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil).Must(t, 201)
	chain, _, _ := c.Issue(e.HTTPPort, "replaced.test")
	certID, err := ariCertID(acmetest.LeafOf(t, chain))
	if err != nil {
		t.Fatal(err)
	}
	order := map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "replaced.test"}}, "replaces": certID}
	replacement := func() *acmetest.Order {
		t.Helper()
		r := c.Post(c.URL("newOrder"), order).Must(t, 201)
		var o acmetest.Order
		var echo struct{ Replaces string }
		r.JSON(t, &o)
		r.JSON(t, &echo)
		if echo.Replaces != certID {
			t.Errorf("order echoes replaces %q, want %q", echo.Replaces, certID)
		}
		o.URL = r.Header.Get("Location")
		return &o
	}
	failed := replacement()
	failValidation(t, c, failed)
	first, second := replacement(), replacement()
	c.Authorize(first, e.HTTPPort)
	c.Authorize(second, e.HTTPPort)
	der, _ := acmetest.CSRFor(t, "replaced.test")
	var o acmetest.Order
	c.Post(first.Finalize, map[string]string{"csr": b64.EncodeToString(der)}).Must(t, 200).JSON(t, &o)
	if o.Status != "valid" {
		t.Fatalf("first replacement after finalize: %s", o.Status)
	}
	r := c.Post(second.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
	if r.Status != 409 || r.Prob.Type != "urn:ietf:params:acme:error:alreadyReplaced" {
		t.Fatalf("finalizing the second replacement: HTTP %d %s", r.Status, r.Body)
	}
	if c.Post(second.URL, nil).Must(t, 200).JSON(t, &o); o.Status != "ready" {
		t.Errorf("the refused replacement is %s, want ready (unchanged)", o.Status)
	}
	r = c.Post(c.URL("newOrder"), order)
	if r.Status != 409 || r.Prob.Type != "urn:ietf:params:acme:error:alreadyReplaced" {
		t.Fatalf("replacing a replaced certificate: HTTP %d %s", r.Status, r.Body)
	}
	other := acmetest.NewClient(t, e.DirURL, e.Client())
	other.Register(nil).Must(t, 201)
	if r := other.Post(other.URL("newOrder"), order); r.Status != 403 {
		t.Fatalf("replacing another account's certificate: HTTP %d %s", r.Status, r.Body)
	}
}

// failValidation starts the http-01 challenge of o's first authorization
// with nothing listening on the validator's port and waits until the
// order is invalid.
func failValidation(t *testing.T, c *acmetest.Client, o *acmetest.Order) {
	t.Helper()
	var a struct {
		Challenges []struct{ Type, URL string }
	}
	c.Post(o.Authorizations[0], nil).Must(t, 200).JSON(t, &a)
	for _, ch := range a.Challenges {
		if ch.Type == "http-01" {
			c.Post(ch.URL, map[string]any{}).Must(t, 200)
		}
	}
	var got acmetest.Order
	for deadline := time.Now().Add(20 * time.Second); got.Status != "invalid" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		c.Post(o.URL, nil).Must(t, 200).JSON(t, &got)
	}
	if got.Status != "invalid" {
		t.Fatalf("order with a failed validation is %s, want invalid", got.Status)
	}
}

// TestSecondInstance starts another server on the same store that
// requires external account binding: a nonce of one instance (local) is
// refused at the other with a shared nonce, good at either instance
// exactly once (acme/nonce.go), and the EAB requirement is configurable
// (conformance/acme's TestLegoExternalAccountRequired registers with lego
// there).
func TestSecondInstance(t *testing.T) {
	e := testEnv
	dir2 := e.Instance(t, func(c *acme.Config) { c.ExternalAccountRequired = true })

	t.Run("nonces across instances", func(t *testing.T) {
		one := acmetest.NewClient(t, e.DirURL, e.Client())
		two := acmetest.NewClient(t, dir2, e.Client())
		two.Key = one.Key
		const badNonce, noAccount = "urn:ietf:params:acme:error:badNonce", "urn:ietf:params:acme:error:accountDoesNotExist"
		// step sends an account lookup with nonce to instance at and
		// returns the nonce of the reply.
		step := func(what string, at *acmetest.Client, nonce, want string) string {
			t.Helper()
			body := at.JWS(at.Key, "", at.URL("newAccount"), map[string]any{"onlyReturnExisting": true}, func(h map[string]any) { h["nonce"] = nonce })
			r := at.PostRaw(at.URL("newAccount"), body, "application/jose+json")
			if r.Prob.Type != want {
				t.Fatalf("%s: HTTP %d %s, want %s", what, r.Status, r.Body, want)
			}
			return r.Header.Get("Replay-Nonce")
		}
		shared2 := step("instance 1's local nonce at instance 2", two, one.Nonce(), badNonce)
		shared1 := step("the nonce of that refusal at instance 1", one, shared2, noAccount)
		local2 := step("that nonce again, at instance 2", two, shared2, badNonce)
		step("the nonce of the reply to instance 2's nonce, at instance 2", two, shared1, noAccount)
		step("instance 2's reply to its own nonce, at instance 2", two, local2, noAccount)
		step("that nonce again, at instance 2", two, local2, badNonce)
		step("that nonce at instance 1", one, local2, badNonce)
	})
	// lego against an instance that requires EAB: conformance/acme.
	t.Run("directory meta", func(t *testing.T) {
		resp, err := e.Client().Get(dir2)
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
		for _, p := range e.Engine.Profiles().All() {
			_, listed := d.Meta.Profiles[p.Name]
			if listed != p.AllowsProtocol("acme") || (listed && d.Meta.Profiles[p.Name] != p.Description) {
				t.Errorf("profile %s: listed %v with %q", p.Name, listed, d.Meta.Profiles[p.Name])
			}
		}
		if d.RenewalInfo != strings.TrimSuffix(dir2, "/directory")+"/renewal-info" || !d.Meta.ExternalAccountRequired || d.Meta.Website == "" || len(d.Meta.CAAIdentities) != 1 {
			t.Errorf("directory: %+v", d)
		}
	})
}

// TestRevokeByAuthorizationHolder: an account that did not order a
// certificate but holds valid authorizations for all its names may revoke
// it (RFC 8555 §7.6); one holding only some may not.
func TestRevokeByAuthorizationHolder(t *testing.T) {
	e := testEnv
	alice := acmetest.NewClient(t, e.DirURL, e.Client())
	alice.Register(nil).Must(t, 201)
	chain, _, _ := alice.Issue(e.HTTPPort, "held-a.test", "held-b.test")
	der := acmetest.LeafOf(t, chain).Raw
	bob := acmetest.NewClient(t, e.DirURL, e.Client())
	bob.Register(nil).Must(t, 201)
	revoke := map[string]any{"certificate": b64.EncodeToString(der)}

	partial, _ := bob.NewOrder("held-a.test")
	bob.Authorize(partial, e.HTTPPort)
	if r := bob.Post(bob.URL("revokeCert"), revoke); r.Status != 403 || r.Prob.Type != "urn:ietf:params:acme:error:unauthorized" {
		t.Fatalf("revocation with authorizations for some names: %d %s", r.Status, r.Body)
	}
	rest, _ := bob.NewOrder("held-b.test")
	bob.Authorize(rest, e.HTTPPort)
	bob.Post(bob.URL("revokeCert"), revoke).Must(t, 200)
	if !e.revoked(t, chain) {
		t.Fatal("not revoked")
	}
}

// ariCertID is the certificate's identifier in renewal information
// (RFC 9773 §4.1): base64url of the authority key identifier, a dot, and
// base64url of the serial number's DER integer contents.
func ariCertID(leaf *x509.Certificate) (string, error) {
	der, err := asn1.Marshal(leaf.SerialNumber)
	if err != nil {
		return "", err
	}
	if len(der) < 3 {
		return "", errors.New("invalid DER encoding of serial number")
	}
	return b64.EncodeToString(leaf.AuthorityKeyId) + "." + b64.EncodeToString(der[2:]), nil
}
