package acme_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/ca"
)

func (e *env) revoked(t *testing.T, chainPEM []byte) bool {
	t.Helper()
	info, err := e.Engine.Certificate(t.Context(), acmetest.LeafOf(t, chainPEM).SerialNumber)
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
	c, u := e.legoClient(t, useHTTP01, e.DirURL)
	register(t, c, u)
	res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"ari.test"}, Bundle: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := acmetest.LeafOf(t, res.Certificate)
	ri, err := c.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	if err != nil {
		t.Fatalf("renewal info: %v", err)
	}
	prof, _ := e.Engine.Profiles().Get("default")
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
	rec, err := e.Store.ACMECertificate(t.Context(), ca.FormatSerial(leaf.SerialNumber))
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
	ri, err = c.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: acmetest.LeafOf(t, renewed.Certificate)})
	if err != nil {
		t.Fatal(err)
	}
	if at := ri.ShouldRenewAt(time.Now(), time.Hour); at == nil || at.After(time.Now().Add(time.Second)) {
		t.Errorf("a revoked certificate should be renewed now; window %+v", ri.SuggestedWindow)
	}
}

// TestLegoRevocation revokes once by the account and once by the
// certificate's own key (RFC 8555 §7.6).
func TestLegoRevocation(t *testing.T) {
	e := testEnv
	c, u := e.legoClient(t, useHTTP01, e.DirURL)
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
		core, err := api.New(e.Client(), "vccpki-test", e.DirURL, "", key)
		if err != nil {
			t.Fatal(err)
		}
		der := acmetest.LeafOf(t, res.Certificate).Raw
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
	c, u := e.legoClient(t, useHTTP01, e.DirURL)
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
	xc := &xacme.Client{Key: oldKey, DirectoryURL: e.DirURL, HTTPClient: e.Client()}
	acct, err := xc.Register(ctx, &xacme.Account{Contact: []string{"mailto:ops@vcc.example"}}, xacme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	// A key that already belongs to another account is refused with 409
	// and that account's URL (RFC 8555 §7.3.5).
	taken, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, err := (&xacme.Client{Key: taken, DirectoryURL: e.DirURL, HTTPClient: e.Client()}).Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
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

// TestLegoExternalAccountRequired starts another server on the same store
// that requires external account binding: lego sees the requirement in the
// directory, is refused without EAB, and obtains a certificate with it.
func TestLegoExternalAccountRequired(t *testing.T) {
	e := testEnv
	dir2 := e.Instance(t, func(c *acme.Config) { c.ExternalAccountRequired = true })

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
}
