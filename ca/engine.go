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
	// gen numbers the CA's key generation (1 for the first; rollover.go);
	// key names the generation in the store's certificates.issuer column
	// and in URLs (GenerationIssuer). retired is when a rollover moved
	// issuance to a newer generation, in Unix nanoseconds (Refresh sets
	// it while issuance reads it); zero for the current one.
	gen     int
	key     string
	retired atomic.Int64
	// link is the generation's link certificate (rollover_link.go), nil
	// for generation 1 and for generations made before link certificates.
	link *x509.Certificate
	// lint is a stand-in for cert whose key is a throwaway one: the
	// certificate is signed with it and linted before the real key signs
	// the same TBSCertificate (Boulder's issuance cycle).
	lint     *lintIssuer
	ed25519  bool // the CA's key is Ed25519
	lintErr  error
	lintOnce sync.Once
	// revoked is set once the CA certificate is revoked (RevokeCA, or
	// seen in the store by Refresh); it never goes back.
	revoked atomic.Pointer[caRevocation]
}

// retiredAt is when a rollover retired this generation; zero while it is
// the current one.
func (a *authority) retiredAt() time.Time {
	if n := a.retired.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

// retire records that a rollover retired this generation at t.
func (a *authority) retire(t time.Time) { a.retired.Store(t.UnixNano()) }

// caRevocation is when and why a CA certificate was revoked.
type caRevocation struct {
	at     time.Time
	reason RevocationReason
}

// caSet is one immutable snapshot of the hierarchy: issuance reads it
// with one atomic load; a new CA replaces the whole snapshot.
type caSet struct {
	cas map[string]*authority
	// gens holds every generation of the root and the issuing CAs, the
	// current and the retired, by GenerationIssuer key.
	gens map[string]*authority
	// ocsp holds the OCSP responder of each issuing CA, by CA name; each
	// responder's certificate is renewed in place (responder_renew.go).
	ocsp map[string]*OCSPResponder
}

// Engine is the CA. It is safe for concurrent use.
type Engine struct {
	cfg      Config
	store    store.Store
	keys     keys.Source
	profiles *profile.Set
	linter   *linter
	// set is the hierarchy now; setMu serialises the writers that replace it.
	set     atomic.Pointer[caSet]
	setMu   sync.Mutex
	root    *authority
	metrics *metrics
	observe func(phase string, d time.Duration)
	// https is the server's own certificate; it is renewed while the
	// server runs, so it is not in cas.
	https atomic.Pointer[authority]
	// tsa signs RFC 3161 tokens once EnableTimestamps has run (tsa.go).
	tsa atomic.Pointer[timestamper]
	// signing holds the server-held signing keys (signkeys.go).
	signing signingKeys
	// changes wakes the front ends when a CA joins or is revoked (cachanges.go).
	changes caChanges
	// offline is the state of an offline root (ceremony_engine.go).
	offline offlineRoot
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
	retired, err := st.RetiredCAs(ctx)
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
	e := &Engine{cfg: cfg, store: st, keys: ks, profiles: profiles, linter: lt, metrics: newMetrics(opts.Registerer), observe: opts.PhaseObserver}
	if err := e.load(recs, retired); err != nil {
		return nil, err
	}
	if err := e.openOfflineRoot(ctx, opts.Registerer); err != nil {
		return nil, err
	}
	cas := e.set.Load().cas
	if profiles != nil {
		for _, p := range profiles.All() {
			a := cas[p.Issuer]
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
	a := e.ca(name)
	if a == nil {
		return nil, false
	}
	return a.cert, true
}

// Chain returns the certificates above the named one, nearest first, up to
// but not including the root: what a server sends after its own
// certificate.
func (e *Engine) Chain(name string) []*x509.Certificate {
	a := e.ca(name)
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
	a := e.ca(name)
	if a == nil {
		return nil, fmt.Errorf("no CA certificate %q", name)
	}
	if a == e.root && e.offline.on {
		return nil, ErrRootOffline
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
