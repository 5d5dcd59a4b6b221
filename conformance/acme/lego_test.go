package acme_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/challenge/tlsalpn01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"
	"github.com/letsencrypt/challtestsrv"

	"github.com/vcc/vccpki/acme"
)

type legoUser struct {
	key crypto.PrivateKey
	reg *registration.Resource
}

func (u *legoUser) GetEmail() string                        { return "ops@vcc.example" }
func (u *legoUser) GetRegistration() *registration.Resource { return u.reg }
func (u *legoUser) GetPrivateKey() crypto.PrivateKey        { return u.key }

// dnsProvider answers dns-01 through the fake DNS the validator asks.
type dnsProvider struct{ cs *challtestsrv.ChallSrv }

func (p dnsProvider) Present(domain, _, keyAuth string) error {
	info := dns01.GetChallengeInfo(domain, keyAuth)
	p.cs.AddDNSTXTRecord(info.EffectiveFQDN, info.Value)
	return nil
}

func (p dnsProvider) CleanUp(domain, _, keyAuth string) error {
	p.cs.DeleteDNSTXTRecord(dns01.GetChallengeInfo(domain, keyAuth).EffectiveFQDN)
	return nil
}

type challengeKind int

const (
	useHTTP01 challengeKind = iota
	useDNS01
	useTLSALPN01
	useHTTP01v6 // lego's http-01 server on [::1]
)

// legoClient makes a lego client with a new account key and one solver:
// lego's own http-01 and tls-alpn-01 servers on the validator's ports, or
// dns-01 records in the fake DNS.
func (e *env) legoClient(t *testing.T, kind challengeKind, dirURL string) (*lego.Client, *legoUser) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u := &legoUser{key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = dirURL
	cfg.HTTPClient = e.Client()
	cfg.Certificate.KeyType = certcrypto.EC256
	c, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	switch kind {
	case useHTTP01:
		e.setHTTP01(t, c)
	case useHTTP01v6:
		err = c.Challenge.SetHTTP01Provider(http01.NewProviderServer("::1", strconv.Itoa(e.HTTPPort)))
	case useTLSALPN01:
		e.setTLSALPN01(t, c)
	case useDNS01:
		e.setDNS01(t, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, u
}

func (e *env) setHTTP01(t *testing.T, c *lego.Client) {
	if err := c.Challenge.SetHTTP01Provider(http01.NewProviderServer("127.0.0.1", strconv.Itoa(e.HTTPPort))); err != nil {
		t.Fatal(err)
	}
}

func (e *env) setTLSALPN01(t *testing.T, c *lego.Client) {
	if err := c.Challenge.SetTLSALPN01Provider(tlsalpn01.NewProviderServer("127.0.0.1", strconv.Itoa(e.TLSPort))); err != nil {
		t.Fatal(err)
	}
}

func (e *env) setDNS01(t *testing.T, c *lego.Client) {
	err := c.Challenge.SetDNS01Provider(dnsProvider{e.dns},
		dns01.AddRecursiveNameservers([]string{e.DNSAddr}),
		dns01.DisableAuthoritativeNssPropagationRequirement())
	if err != nil {
		t.Fatal(err)
	}
}

func register(t *testing.T, c *lego.Client, u *legoUser) {
	t.Helper()
	reg, err := c.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	u.reg = reg
}

func (e *env) registerEAB(t *testing.T, c *lego.Client, u *legoUser, service string) {
	t.Helper()
	kid, hmac, err := acme.CreateEABKey(t.Context(), e.Store, "", service, "operator:test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := c.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{TermsOfServiceAgreed: true, Kid: kid, HmacEncoded: hmac})
	if err != nil {
		t.Fatalf("register with EAB: %v", err)
	}
	u.reg = reg
}

func TestLegoIssuance(t *testing.T) {
	tests := []struct {
		name    string
		kind    challengeKind
		service string // EAB binding; "" registers without EAB
		domains []string
		profile string
		lasts   time.Duration
	}{
		{"http-01", useHTTP01, "", []string{"web.test"}, "", 2160 * time.Hour},
		{"http-01 two names", useHTTP01, "", []string{"a.test", "b.test"}, "", 2160 * time.Hour},
		{"tls-alpn-01", useTLSALPN01, "", []string{"alpn.test"}, "", 2160 * time.Hour},
		{"dns-01", useDNS01, "", []string{"dns.test"}, "", 2160 * time.Hour},
		{"IP identifier by http-01", useHTTP01, "", []string{"127.0.0.1"}, "", 2160 * time.Hour},
		{"IPv6 identifier by http-01", useHTTP01v6, "", []string{"::1"}, "", 2160 * time.Hour},
		{"IP identifier by tls-alpn-01", useTLSALPN01, "", []string{"127.0.0.1"}, "", 2160 * time.Hour},
		{"EAB-bound wildcard by dns-01", useDNS01, "argus", []string{"*.argus.test", "argus.test"}, "", 168 * time.Hour},
		{"EAB without service, profile named", useHTTP01, "", []string{"named.test"}, "default", 2160 * time.Hour},
		{"scraper profile named", useHTTP01, "scraper", []string{"w1.scraper.test"}, "scraper", 72 * time.Hour},
	}
	e := testEnv
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, u := e.legoClient(t, tc.kind, e.DirURL)
			if tc.service != "" || tc.profile != "" {
				e.registerEAB(t, c, u, tc.service)
			} else {
				register(t, c, u)
			}
			res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: tc.domains, Bundle: true, Profile: tc.profile})
			if err != nil {
				t.Fatalf("obtain: %v", err)
			}
			leaf := e.verifyChain(t, res.Certificate, tc.domains[len(tc.domains)-1])
			// The engine backdates notBefore by the profile's backdate (1m).
			if got := leaf.NotAfter.Sub(leaf.NotBefore); got != tc.lasts+time.Minute {
				t.Errorf("validity %v, want %v (the profile's, plus 1m backdate)", got, tc.lasts+time.Minute)
			}
		})
	}
}

// legoClientWithKey is a lego client for an existing account key.
func (e *env) legoClientWithKey(t *testing.T, key crypto.PrivateKey) (*lego.Client, *legoUser) {
	t.Helper()
	u := &legoUser{key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = e.DirURL
	cfg.HTTPClient = e.Client()
	c, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, u
}

// TestLegoEachProfile obtains a certificate from every profile the
// directory lists, naming it in the order (an account bound by EAB where
// the profile needs one), and checks the profile's validity.
func TestLegoEachProfile(t *testing.T) {
	e := testEnv
	for _, p := range e.Engine.Profiles().All() {
		if !p.AllowsProtocol("acme") {
			continue
		}
		t.Run(p.Name, func(t *testing.T) {
			name := ""
			for _, pat := range p.DNSPatterns {
				if strings.HasSuffix(pat, ".test") {
					name = strings.Replace(pat, "*", "each-"+p.Name, 1)
					break
				}
			}
			if name == "" {
				t.Fatalf("profile %s admits no .test name to order", p.Name)
			}
			c, u := e.legoClient(t, useHTTP01, e.DirURL)
			service := ""
			if p.RequireBinding {
				service = p.Name
			}
			e.registerEAB(t, c, u, service)
			res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{name}, Bundle: true, Profile: p.Name})
			if err != nil {
				t.Fatalf("obtain %s from %s: %v", name, p.Name, err)
			}
			leaf := e.verifyChain(t, res.Certificate, name)
			if got, want := leaf.NotAfter.Sub(leaf.NotBefore), p.Validity+p.Backdate; got != want {
				t.Errorf("validity %v, want %v", got, want)
			}
		})
	}
}
