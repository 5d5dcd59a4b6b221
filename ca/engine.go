// Package ca is the CA engine every front end calls: the hierarchy, policy
// checks against profile templates, issuance with pre-issuance linting,
// revocation, status and CRLs. It knows nothing of HTTP or of any protocol.
package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// authority is one certificate of the hierarchy, with what signing with
// it needs.
type authority struct {
	name   string
	role   string
	keyID  string
	cert   *x509.Certificate
	parent *authority
	// lint is a stand-in for cert whose key is a throwaway one: the
	// certificate is signed with it and linted before the real key signs
	// the same TBSCertificate (Boulder's issuance cycle).
	lint     *lintIssuer
	ed25519  bool // the CA's key is Ed25519
	lintErr  error
	lintOnce sync.Once
}

// Engine is the CA. It is safe for concurrent use.
type Engine struct {
	cfg      Config
	store    store.Store
	keys     keys.Source
	profiles *profile.Set
	linter   *linter
	cas      map[string]*authority
	root     *authority
	metrics  *metrics
	observe  func(phase string, d time.Duration)
	// https is the server's own certificate; it is renewed while the
	// server runs, so it is not in cas.
	https atomic.Pointer[authority]
	// tsa signs RFC 3161 tokens once EnableTimestamps has run (tsa.go).
	tsa atomic.Pointer[timestamper]
	// ocsp holds the OCSP responder of each issuing CA, by CA name; the
	// map is fixed at Open, each responder's certificate is renewed in
	// place (responder_renew.go).
	ocsp map[string]*OCSPResponder
	// signing holds the server-held signing keys (signkeys.go).
	signing signingKeys
}

// Options are the optional parts of an Engine.
type Options struct {
	// Registerer receives the engine's Prometheus metrics; nil for none.
	Registerer prometheus.Registerer
	// PhaseObserver, when set, is told how long each phase of every
	// issuance took: "check", "lint", "sign", "store".
	PhaseObserver func(phase string, d time.Duration)
}

// Open loads the hierarchy from the store. Bootstrap must have run.
func Open(ctx context.Context, st store.Store, ks keys.Source, profiles *profile.Set, cfg Config, opts Options) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	recs, err := st.CAs(ctx)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("the store holds no CA hierarchy: run vccpki init (or vccpki serve, which creates it)")
	}
	lt, err := newLinter()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, store: st, keys: ks, profiles: profiles, linter: lt, cas: map[string]*authority{}, metrics: newMetrics(opts.Registerer), observe: opts.PhaseObserver}
	for _, r := range recs {
		c, err := x509.ParseCertificate(r.DER)
		if err != nil {
			return nil, fmt.Errorf("CA record %q: %w", r.Name, err)
		}
		a := &authority{name: r.Name, role: r.Role, keyID: r.KeyID, cert: c}
		a.ed25519 = c.PublicKeyAlgorithm == x509.Ed25519
		e.cas[r.Name] = a
	}
	for _, r := range recs {
		a := e.cas[r.Name]
		if r.Parent == "" {
			e.root = a
			continue
		}
		if a.parent = e.cas[r.Parent]; a.parent == nil {
			return nil, fmt.Errorf("CA record %q names an unknown parent %q", r.Name, r.Parent)
		}
	}
	if e.root == nil {
		return nil, fmt.Errorf("the store's hierarchy has no root")
	}
	if h := e.cas[HTTPSName]; h != nil {
		delete(e.cas, HTTPSName)
		e.https.Store(h)
	}
	e.ocsp = map[string]*OCSPResponder{}
	for _, name := range IssuingCAs {
		a, r := e.cas[name], e.cas[OCSPResponderName(name)]
		if a == nil || r == nil {
			continue
		}
		if e.ocsp[name], err = newOCSPResponder(e, a, r); err != nil {
			return nil, fmt.Errorf("the OCSP responder of %s: %w", name, err)
		}
	}
	if profiles != nil {
		for _, p := range profiles.All() {
			a := e.cas[p.Issuer]
			if a == nil && p.Issuer == AdminCA {
				continue // issuance says to run vccpki ca add-admin-ca
			}
			if a == nil || a.role != "intermediate" {
				return nil, fmt.Errorf("profile %s: issuer %q is not an issuing CA of this hierarchy", p.Name, p.Issuer)
			}
			if err := checkProfileOrg(ctx, st, p); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// Profiles returns the profile templates the engine issues from.
func (e *Engine) Profiles() *profile.Set { return e.profiles }

// Root returns the trust anchor.
func (e *Engine) Root() *x509.Certificate { return e.root.cert }

// CACert returns a certificate of the hierarchy by name ("root",
// "services", "code-signing", "ocsp-services", "tsa", ...).
func (e *Engine) CACert(name string) (*x509.Certificate, bool) {
	if name == HTTPSName {
		if h := e.https.Load(); h != nil {
			return h.cert, true
		}
	}
	a, ok := e.cas[name]
	if !ok {
		return nil, false
	}
	return a.cert, true
}

// Chain returns the certificates above the named one, nearest first, up to
// but not including the root: what a server sends after its own
// certificate.
func (e *Engine) Chain(name string) []*x509.Certificate {
	a := e.cas[name]
	if name == HTTPSName {
		a = e.https.Load()
	}
	if a == nil {
		return nil
	}
	return chainFrom(a.parent)
}

// chainFrom returns a and its ancestors, nearest first, without the root.
func chainFrom(a *authority) []*x509.Certificate {
	var out []*x509.Certificate
	for ; a != nil && a.parent != nil; a = a.parent {
		out = append(out, a.cert)
	}
	return out
}

// IssuerOf returns the name of the issuing CA for a profile.
func (e *Engine) IssuerOf(profileName string) (string, bool) {
	p, ok := e.profiles.Get(profileName)
	if !ok {
		return "", false
	}
	return p.Issuer, true
}

// Signer returns the private key of a certificate of the hierarchy, for
// the OCSP responder and the TSA.
func (e *Engine) Signer(ctx context.Context, name string) (crypto.Signer, error) {
	a, ok := e.cas[name]
	if !ok {
		return nil, fmt.Errorf("no CA certificate %q", name)
	}
	return e.keys.Signer(ctx, a.keyID)
}

// SecretSealer returns the engine's key store as a sealer of small
// secrets (the ACME secrets' box), or nil if it cannot seal them.
func (e *Engine) SecretSealer() keys.SecretSealer {
	ss, _ := e.keys.(keys.SecretSealer)
	return ss
}

// checkProfileOrg refuses a profile naming an issuing CA that its
// organisation does not own (a CA no organisation claims is the
// operator's).
func checkProfileOrg(ctx context.Context, st store.OrgStore, p *profile.Profile) error {
	owner, err := st.CAOrganisation(ctx, p.Issuer)
	if err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if org := store.OrgOf(p.Organisation); owner != org {
		return fmt.Errorf("profile %s of organisation %q names the issuing CA %q, which organisation %q owns; "+
			"a profile may only name a CA of its own organisation (vccpki org add-ca --org %s --ca %s gives it one)",
			p.Name, org, p.Issuer, owner, org, p.Issuer)
	}
	return nil
}
