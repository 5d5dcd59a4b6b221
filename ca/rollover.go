package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// A CA name has key generations: vccpki ca rollover gives an issuing CA a
// new key and certificate under the same name and subject; the new
// generation issues at once, the earlier ones are retired from issuance
// but keep signing the CRLs and OCSP answers of the certificates they
// issued until the last of those expires (the retired CA certificate
// expiring bounds them: a certificate never outlives its issuer).
//
// Each certificate is attributed to the generation that signed it by the
// store's certificates.issuer column, which holds the generation's key
// (GenerationIssuer), written at issuance: the OCSP and CRL hot paths
// read the same one indexed column as before and pay nothing for
// generations. The key is also the name in the generation's URLs, which
// never change meaning once certificates carry them: a CRL distribution
// point names a CRL signed by the key that issued the certificate (RFC
// 5280 §5.2.1, §5.2.5: a CRL is matched by issuer name and authority key
// identifier), a caIssuers URL the certificate of that key.

// GenerationIssuer is the key of a CA's generation: the CA's name for the
// first (so that the certificates and URLs of every CA made before
// rollovers existed keep theirs), "<name>_<n>" for the n-th. CA names
// have no underscore, so no key is another CA's name.
func GenerationIssuer(name string, gen int) string {
	if gen <= 1 {
		return name
	}
	return name + "_" + strconv.Itoa(gen)
}

// RolloverCARequest names the issuing CA to roll over.
type RolloverCARequest struct {
	Name string
	// KeyType of the new key; empty for the current key's type.
	KeyType keys.Type
}

// RolloverCA gives an issuing CA a new generation: a new key (of the
// request's type, or the current key's), a certificate with the same
// subject, constraints, path length, EKUs and policies and a new subject
// key identifier, signed by the parent's current key, and a new delegated
// OCSP responder certificate signed by the new key (RFC 6960 §4.2.2.2:
// the old responder certificate answers only for the old key's
// certificates), and the link certificate of the new key signed by the
// old one (rollover_link.go). One store transaction with one audit event. Engines
// issue from the new key after their Refresh (Engine.RolloverCA at once).
// The root is not rolled over here (a new root is a new trust anchor,
// distributed to every relying party): refused, as are unknown and
// revoked CAs.
func RolloverCA(ctx context.Context, st store.Store, ks keys.Source, cfg Config, req RolloverCARequest, actor string) (*x509.Certificate, error) {
	p, err := prepareRollover(ctx, st, &cfg, req)
	if err != nil {
		return nil, err
	}
	if err := refuseOfflineKey(ctx, st, p.parent.KeyID); err != nil {
		return nil, caerr.New(caerr.Conflict, "the parent of %s is the offline root: make the new key and a request with vccpki ca rollover --name %s --request-out FILE, sign it with vccpki ceremony rollover on the root's host, and load it with vccpki ceremony import", req.Name, req.Name)
	}
	signer, err := ks.Signer(ctx, p.parent.KeyID)
	if err != nil {
		return nil, fmt.Errorf("the key of %s: %w", p.parent.Name, err)
	}
	plan := []planned{{req.Name, "intermediate", p.parent.Name, p.cc, p.tmpl}, ocspPlanFor(&cfg, req.Name, p.oc.Subject.CommonName, p.now)}
	// Key IDs name the generation, so a rollover within the second the
	// CA was made in does not reuse its key's ID.
	keyRecs, caRecs, err := signPlan(ctx, suffixedKeys{ks, p.suffix()}, &cfg, plan, p.now,
		map[string]*x509.Certificate{p.parent.Name: p.pc}, map[string]crypto.Signer{p.parent.Name: signer})
	if err != nil {
		return nil, caerr.New(caerr.LintFailed, "%v", err)
	}
	for i := range caRecs {
		caRecs[i].KeyID += p.suffix()
	}
	caRecs[0].Generation = p.gen
	next, err := x509.ParseCertificate(caRecs[0].DER)
	if err != nil {
		return nil, err
	}
	if caRecs[0].LinkDER, err = p.linkCert(ctx, ks, &cfg, next); err != nil {
		return nil, caerr.New(caerr.LintFailed, "%v", err)
	}
	if err := p.store(ctx, st, keyRecs, caRecs, actor, ""); err != nil {
		return nil, err
	}
	return next, nil
}

// rolloverPlan is what a rollover of an issuing CA makes: the next
// generation's certificate template, from the current generation's
// certificate. RolloverCA signs it with an online parent's key,
// RootHost.SignRollover with the offline root's.
type rolloverPlan struct {
	cur, parent store.CARecord
	oc, pc      *x509.Certificate // the current generation's and the parent's certificates
	cc          CertConfig
	gen         int // the new generation
	now         time.Time
	tmpl        *x509.Certificate
}

func (p *rolloverPlan) suffix() string { return "-g" + strconv.Itoa(p.gen) }

// prepareRollover checks that req names an issuing CA that can be rolled
// over and makes the new generation's template: the same subject (byte
// for byte), key usage, EKUs, policies, path length and name constraints
// as the current generation, its validity period again from now (up to
// the parent's notAfter), and the parent's current URLs.
func prepareRollover(ctx context.Context, st store.Store, cfg *Config, req RolloverCARequest) (*rolloverPlan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if req.KeyType != "" {
		if _, err := keys.ParseType(string(req.KeyType)); err != nil {
			return nil, caerr.New(caerr.Malformed, "key type: %v", err)
		}
	}
	recs, err := st.CAs(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(recs, func(r store.CARecord) bool { return r.Name == req.Name })
	switch {
	case i < 0:
		return nil, caerr.New(caerr.NotFound, "no issuing CA named %q", req.Name)
	case recs[i].Role == "root":
		return nil, caerr.New(caerr.Conflict, "the root is not rolled over: a new root is a new trust anchor; create a new hierarchy")
	case recs[i].Role != "intermediate":
		return nil, caerr.New(caerr.NotFound, "no issuing CA named %q", req.Name)
	case !recs[i].RevokedAt.IsZero():
		return nil, caerr.New(caerr.Conflict, "the %s CA is revoked: create a new CA instead", req.Name)
	}
	p := &rolloverPlan{cur: recs[i]}
	pi := slices.IndexFunc(recs, func(r store.CARecord) bool { return r.Name == p.cur.Parent })
	if pi < 0 {
		return nil, fmt.Errorf("CA record %q names an unknown parent %q", p.cur.Name, p.cur.Parent)
	}
	p.parent = recs[pi]
	if !p.parent.RevokedAt.IsZero() {
		return nil, caerr.New(caerr.Conflict, "the parent CA %s is revoked", p.parent.Name)
	}
	if p.oc, err = x509.ParseCertificate(p.cur.DER); err != nil {
		return nil, fmt.Errorf("CA record %q: %w", p.cur.Name, err)
	}
	if p.pc, err = x509.ParseCertificate(p.parent.DER); err != nil {
		return nil, fmt.Errorf("CA record %q: %w", p.parent.Name, err)
	}
	kt := req.KeyType
	if kt == "" {
		if kt, err = keys.TypeOf(p.oc.PublicKey); err != nil {
			return nil, err
		}
	}
	oc := p.oc
	p.gen = max(p.cur.Generation, 1) + 1
	p.now = cfg.Now().UTC().Truncate(time.Second)
	p.cc = CertConfig{CommonName: oc.Subject.CommonName, KeyType: kt, Validity: oc.NotAfter.Sub(oc.NotBefore)}
	pathLen := oc.MaxPathLen
	if !oc.BasicConstraintsValid || pathLen < 0 {
		pathLen = -1
	}
	tmpl := caTemplate(cfg, p.cc, p.now, pathLen, slices.Clone(oc.ExtKeyUsage), oc.Policies...)
	// The same name, byte for byte: certificates chain and CRLs match by it.
	tmpl.RawSubject = oc.RawSubject
	tmpl.KeyUsage = oc.KeyUsage
	withIssuerURLs(cfg, tmpl, GenerationIssuer(p.parent.Name, p.parent.Generation), false)
	tmpl.PermittedDNSDomainsCritical = oc.PermittedDNSDomainsCritical
	tmpl.PermittedDNSDomains, tmpl.ExcludedDNSDomains = oc.PermittedDNSDomains, oc.ExcludedDNSDomains
	tmpl.PermittedIPRanges, tmpl.ExcludedIPRanges = oc.PermittedIPRanges, oc.ExcludedIPRanges
	tmpl.PermittedEmailAddresses, tmpl.ExcludedEmailAddresses = oc.PermittedEmailAddresses, oc.ExcludedEmailAddresses
	tmpl.PermittedURIDomains, tmpl.ExcludedURIDomains = oc.PermittedURIDomains, oc.ExcludedURIDomains
	// A certificate never outlives its issuer (as signPlan does).
	if tmpl.NotAfter.After(p.pc.NotAfter) {
		tmpl.NotAfter = p.pc.NotAfter
	}
	tmpl.AuthorityKeyId = p.pc.SubjectKeyId
	p.tmpl = tmpl
	return p, nil
}

// store writes the new generation (caRecs[0], with its OCSP responder)
// and its audit event in one transaction.
func (p *rolloverPlan) store(ctx context.Context, st store.Store, keyRecs []store.KeyRecord, caRecs []store.CARecord, actor, how string) error {
	ev := store.AuditEvent{Time: p.now, Actor: actor, Action: "ca.rollover", Object: p.cur.Name,
		Result: fmt.Sprintf("ok: generation %d (%s), generation %d retired%s", p.gen, p.cc.KeyType, p.gen-1, how)}
	switch err := st.RolloverCA(ctx, keyRecs, caRecs, ev); {
	case errors.Is(err, store.ErrConflict):
		return caerr.New(caerr.Conflict, "the %s CA was rolled over by another process at the same time", p.cur.Name)
	case err != nil:
		return err
	}
	return nil
}

// RolloverCA rolls an issuing CA over (the package's RolloverCA) and
// issues from the new key at once.
func (e *Engine) RolloverCA(ctx context.Context, req RolloverCARequest, actor string) (*x509.Certificate, error) {
	c, err := RolloverCA(ctx, e.store, e.keys, e.cfg, req, actor)
	if err != nil {
		return nil, err
	}
	if _, err := e.Refresh(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// suffixedKeys creates keys under IDs with a suffix.
type suffixedKeys struct {
	keys.Source
	suffix string
}

func (s suffixedKeys) Create(ctx context.Context, id string, t keys.Type) (crypto.Signer, store.KeyRecord, error) {
	return s.Source.Create(ctx, id+s.suffix, t)
}

// gen returns a generation of the root or an issuing CA by its key
// (GenerationIssuer), or nil.
func (e *Engine) gen(key string) *authority { return e.set.Load().gens[key] }

// liveGenerations returns the generations of the issuing CAs that sign
// CRLs and OCSP answers now: every current one, and every retired one
// whose certificate has not expired (none it issued is valid later).
func (e *Engine) liveGenerations() []*authority {
	now := e.cfg.Now()
	var out []*authority
	for _, a := range e.set.Load().gens {
		if a.role == "intermediate" && (a.retiredAt().IsZero() || now.Before(a.cert.NotAfter)) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *authority) int {
		if a.name != b.name {
			return strings.Compare(a.name, b.name)
		}
		return a.gen - b.gen
	})
	return out
}

// OCSPIssuers are the keys (GenerationIssuer) of the issuing CA
// generations that answer OCSP now, for OCSPResponder: the current
// generation of each issuing CA and the unexpired retired ones.
func (e *Engine) OCSPIssuers() []string {
	var out []string
	set := e.set.Load()
	for _, a := range e.liveGenerations() {
		if set.ocsp[a.key] != nil {
			out = append(out, a.key)
		}
	}
	return out
}

// CACertGenerations returns the certificates of an issuing CA's live
// generations, the current one first: what EST /cacerts sends during a
// rollover's overlap.
func (e *Engine) CACertGenerations(name string) []*x509.Certificate {
	cur := e.ca(name)
	if cur == nil {
		return nil
	}
	out := []*x509.Certificate{cur.cert}
	for _, a := range e.liveGenerations() {
		if a.name == name && a != cur {
			out = append(out, a.cert)
		}
	}
	return out
}

// GenerationCert returns the certificate of an issuing CA generation by
// its key (GenerationIssuer), current or retired: what the caIssuers URL
// of the certificates it issued names.
func (e *Engine) GenerationCert(key string) (*x509.Certificate, bool) {
	a := e.gen(key)
	if a == nil || a.role != "intermediate" {
		return nil, false
	}
	return a.cert, true
}

// GenerationRetired reports when the generation whose key is issuer (a
// store certificate's issuer) stopped issuing; false for a current one.
// ACME renewal information (RFC 9773) tells the holders of its
// certificates to renew now.
func (e *Engine) GenerationRetired(issuer string) (time.Time, bool) {
	a := e.gen(issuer)
	if a == nil || a.retiredAt().IsZero() {
		return time.Time{}, false
	}
	return a.retiredAt(), true
}

// IssuerKeys returns the keys (GenerationIssuer) of every generation of
// every issuing CA, current and retired: what a store certificate's
// issuer can be, so what vccpki reissue --issuer may name (after two
// rollovers of services, "services" is generation 1 and "services_2"
// generation 2).
func IssuerKeys(ctx context.Context, st store.Store) ([]string, error) {
	recs, err := st.CAs(ctx)
	if err != nil {
		return nil, err
	}
	retired, err := st.RetiredCAs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range append(recs, retired...) {
		if k := GenerationIssuer(r.Name, r.Generation); r.Role == "intermediate" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}
