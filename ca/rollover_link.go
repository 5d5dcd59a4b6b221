package ca

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/vcc/vccpki/ca/keys"
)

// A rollover also makes a link certificate: the new generation's key
// certified by the previous generation's key, with the CA's own subject as
// both subject and issuer (a self-issued certificate, RFC 5280 §3.2), the
// same key usage, EKUs, policies, path length and name constraints as the
// new generation's certificate, and a validity inside the previous
// generation's. RFC 4210 §4.4 (root CA key update) calls it "newWithOld":
// a relying party that holds only the previous CA certificate (pinned, or
// configured as its intermediate) builds a path leaf → link certificate →
// previous CA certificate → root to a leaf of the new key. ACME offers it
// as the alternate chain (RFC 8555 §7.4.2, Link rel="alternate"), EST
// /cacerts includes it (RFC 7030 §4.1.3), and /ca/<key>-link.crt serves it.
// The reverse certificate ("oldWithNew") is not made: leaves of the old key
// keep the old generation's certificate, which stays valid until it
// expires.

// linkLintSuffix marks a link certificate's name for HierarchyLintIgnore.
const linkLintSuffix = "-link"

// linkCert signs the link certificate of the rollover p for the new
// generation's certificate next, with the current (previous) generation's
// key, whose ID is p.cur.KeyID: online in both RolloverCA and the offline
// root ceremony's import (the rolled-over CA is an intermediate).
func (p *rolloverPlan) linkCert(ctx context.Context, ks keys.Source, cfg *Config, next *x509.Certificate) ([]byte, error) {
	signer, err := ks.Signer(ctx, p.cur.KeyID)
	if err != nil {
		return nil, fmt.Errorf("the key of %s generation %d (for the link certificate): %w", p.cur.Name, p.gen-1, err)
	}
	lt, err := newLinter()
	if err != nil {
		return nil, err
	}
	t := *p.tmpl // the new generation's template: its subject, constraints, EKUs and policies
	t.RawSubject = next.RawSubject
	t.NotBefore, t.NotAfter = next.NotBefore, next.NotAfter
	if t.NotBefore.Before(p.oc.NotBefore) {
		t.NotBefore = p.oc.NotBefore
	}
	if t.NotAfter.After(p.oc.NotAfter) {
		t.NotAfter = p.oc.NotAfter // a certificate never outlives its issuer
	}
	old := GenerationIssuer(p.cur.Name, p.gen-1)
	t.IssuingCertificateURL = []string{cfg.caIssuersURL(old)}
	// No CRL distribution point: the previous key's CRLs list only the
	// leaves it issued (onlyContainsUserCerts, RFC 5280 §5.2.5), and the
	// link certificate is only as good as the previous generation's
	// certificate, whose revocation on the parent's ARL ends every path
	// through it.
	t.CRLDistributionPoints = nil
	t.AuthorityKeyId = p.oc.SubjectKeyId
	der, _, err := signCert(lt, old+linkLintSuffix, &t, p.oc, next.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("the link certificate of %s: %w", p.cur.Name, err)
	}
	return der, nil
}

// linkLintIgnore lists the lints not applied to a link certificate, each
// with the reason.
func linkLintIgnore(name string) []string {
	if !strings.HasSuffix(name, linkLintSuffix) {
		return nil
	}
	return []string{
		// BR §7.1.2.2.6 wants a CRL distribution point in a subordinate CA
		// certificate; the link certificate's issuer (the previous key)
		// publishes no CRL of CA certificates, and its validity rests on
		// the previous generation's certificate, whose status the parent's
		// ARL gives (linkCert).
		"e_sub_ca_crl_distribution_points_missing",
	}
}

// alternateChain is the chain of a's certificates through a's link
// certificate: the link certificate, then the previous generation's chain
// (the root excluded), while the previous generation is unrevoked and the
// link certificate unexpired; nil otherwise.
func (e *Engine) alternateChain(a *authority) []*x509.Certificate {
	if a == nil || a.link == nil || !e.cfg.Now().Before(a.link.NotAfter) {
		return nil
	}
	prev := e.gen(GenerationIssuer(a.name, a.gen-1))
	if prev == nil || prev.revoked.Load() != nil {
		return nil
	}
	return append([]*x509.Certificate{a.link}, chainFrom(prev)...)
}

// CALinks returns the link certificates of an issuing CA's live
// generations (the current first): what EST /cacerts adds to the
// generations' certificates so that clients holding only an earlier one
// build a path to the current key.
func (e *Engine) CALinks(name string) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range e.CACertGenerations(name) {
		if a := e.genByCert(name, c); a != nil && a.link != nil && e.cfg.Now().Before(a.link.NotAfter) {
			out = append(out, a.link)
		}
	}
	return out
}

// GenerationLink returns the link certificate of an issuing CA
// generation by its key (GenerationIssuer), current or retired: what
// /ca/<key>-link.crt serves.
func (e *Engine) GenerationLink(key string) (*x509.Certificate, bool) {
	a := e.gen(key)
	if a == nil || a.role != "intermediate" || a.link == nil {
		return nil, false
	}
	return a.link, true
}

// genByCert returns the generation of the CA named name whose certificate
// is c.
func (e *Engine) genByCert(name string, c *x509.Certificate) *authority {
	for _, a := range e.set.Load().gens {
		if a.name == name && a.cert == c {
			return a
		}
	}
	return nil
}
