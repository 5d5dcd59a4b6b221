package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"

	"github.com/vcc/vccpki/store"
)

// ca returns the named certificate of the hierarchy (not the HTTPS
// certificate), or nil.
func (e *Engine) ca(name string) *authority { return e.set.Load().cas[name] }

// IssuingCAs returns the names of the issuing CAs the engine holds now
// (role "intermediate"), sorted, revoked ones included: their CRLs stay
// served.
func (e *Engine) IssuingCAs() []string {
	var out []string
	for n, a := range e.set.Load().cas {
		if a.role == "intermediate" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// IsIssuingCA reports whether name is an issuing CA of the hierarchy.
func (e *Engine) IsIssuingCA(name string) bool {
	a := e.ca(name)
	return a != nil && a.role == "intermediate"
}

// IssuingCANames returns the names of the issuing CAs a store holds, and
// those Bootstrap creates (so that profiles load before the hierarchy
// exists): the issuers profile templates may name.
func IssuingCANames(ctx context.Context, st store.Store) ([]string, error) {
	recs, err := st.CAs(ctx)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(IssuingCAs)
	for _, r := range recs {
		if r.Role == "intermediate" && !slices.Contains(out, r.Name) {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

// load builds the first snapshot from the store's CA records and the
// retired generations of its CAs.
func (e *Engine) load(recs, retired []store.CARecord) error {
	set := &caSet{cas: map[string]*authority{}, gens: map[string]*authority{}, ocsp: map[string]*OCSPResponder{}}
	if _, err := e.merge(set, recs, retired); err != nil {
		return err
	}
	if e.root = set.cas[RootCA]; e.root == nil || e.root.parent != nil {
		return fmt.Errorf("the store's hierarchy has no root")
	}
	if h := set.cas[HTTPSName]; h != nil {
		delete(set.cas, HTTPSName)
		e.https.Store(h)
	}
	e.set.Store(set)
	return nil
}

// newAuthority is the authority of one CA record.
func newAuthority(r store.CARecord) (*authority, error) {
	c, err := x509.ParseCertificate(r.DER)
	if err != nil {
		return nil, fmt.Errorf("CA record %q: %w", r.Name, err)
	}
	gen := max(r.Generation, 1)
	a := &authority{name: r.Name, role: r.Role, keyID: r.KeyID, cert: c, gen: gen, key: GenerationIssuer(r.Name, gen)}
	if !r.RetiredAt.IsZero() {
		a.retire(r.RetiredAt)
	}
	if len(r.LinkDER) > 0 {
		if a.link, err = x509.ParseCertificate(r.LinkDER); err != nil {
			return nil, fmt.Errorf("CA record %q generation %d: link certificate: %w", r.Name, gen, err)
		}
	}
	a.ed25519 = c.PublicKeyAlgorithm == x509.Ed25519
	return a, nil
}

// merge adds to set the records it does not hold yet, the generations
// of issuing CAs rolled over since (the current record's generation is
// newer: the one held retires, and the CA's new OCSP responder record
// replaces the old) and the retired generations it lacks; links them to
// their parents (the parent's generation whose subject key identifier
// is their authority key identifier); gives each issuing CA generation
// its OCSP responder; and marks revoked the authorities whose record
// says so. It returns the names added or rolled over.
func (e *Engine) merge(set *caSet, recs, retired []store.CARecord) ([]string, error) {
	var added []string
	var linked []*authority
	byName := map[string]store.CARecord{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	for _, r := range recs {
		if r.Name == HTTPSName && e.https.Load() != nil {
			continue // renewed in place (https_renew.go)
		}
		old, ok := set.cas[r.Name]
		if ok && (old.role != "intermediate" || max(r.Generation, 1) <= old.gen) {
			continue
		}
		a, err := newAuthority(r)
		if err != nil {
			return nil, err
		}
		if ok {
			// Rolled over (rollover.go): the held generation retires now,
			// or when the retired record says.
			at := e.cfg.Now().UTC()
			for _, g := range retired {
				if g.Name == old.name && g.Generation == old.gen {
					at = g.RetiredAt
				}
			}
			old.retire(at)
			rn := OCSPResponderName(r.Name)
			if rr, ok := byName[rn]; ok && set.cas[rn] != nil {
				ra, err := newAuthority(rr)
				if err != nil {
					return nil, err
				}
				set.cas[rn] = ra
				linked = append(linked, ra)
			}
		}
		set.cas[r.Name] = a
		added = append(added, r.Name)
		linked = append(linked, a)
	}
	for _, g := range retired {
		k := GenerationIssuer(g.Name, g.Generation)
		if set.gens[k] != nil {
			continue
		}
		a, err := newAuthority(g)
		if err != nil {
			return nil, err
		}
		set.gens[k] = a
		linked = append(linked, a)
	}
	for _, a := range set.cas {
		if a.role == "root" || a.role == "intermediate" {
			set.gens[a.key] = a
		}
	}
	for _, a := range linked {
		parent := byName[a.name].Parent
		if !a.retiredAt().IsZero() {
			for _, g := range retired {
				if g.Name == a.name && max(g.Generation, 1) == a.gen {
					parent = g.Parent
				}
			}
		}
		if parent == "" {
			continue
		}
		if a.parent = parentOf(set, parent, a.cert); a.parent == nil {
			return nil, fmt.Errorf("CA record %q names an unknown parent %q", a.name, parent)
		}
	}
	for _, r := range recs {
		a := set.cas[r.Name]
		if a == nil && r.Name == HTTPSName {
			a = e.https.Load()
		}
		if a != nil && !r.RevokedAt.IsZero() && a.revoked.Load() == nil {
			a.revoked.Store(&caRevocation{at: r.RevokedAt, reason: RevocationReason(r.RevocationReason)})
			e.caChanged()
		}
	}
	for k, a := range set.gens {
		if a.role != "intermediate" {
			continue
		}
		cur := set.cas[a.name] == a
		if r := set.ocsp[k]; r != nil && (cur || r.cur.Load().responder == a) {
			continue
		}
		// The current generation signs with its delegated responder
		// certificate; a retired one signs its answers itself, as the CA
		// that issued the certificates in question (RFC 6960 §4.2.2.2):
		// its responder record now belongs to the new generation.
		r := a
		if cur {
			if r = set.cas[OCSPResponderName(a.name)]; r == nil {
				continue
			}
		}
		resp, err := newOCSPResponder(e, a, r)
		if err != nil {
			return nil, fmt.Errorf("the OCSP responder of %s: %w", k, err)
		}
		set.ocsp[k] = resp
	}
	return added, nil
}

// parentOf returns the generation of the CA named parent that signed
// cert: the one whose subject key identifier is cert's authority key
// identifier, or the current one.
func parentOf(set *caSet, parent string, cert *x509.Certificate) *authority {
	p := set.cas[parent]
	if p == nil || len(cert.AuthorityKeyId) == 0 || bytes.Equal(p.cert.SubjectKeyId, cert.AuthorityKeyId) {
		return p
	}
	for _, g := range set.gens {
		if g.name == parent && bytes.Equal(g.cert.SubjectKeyId, cert.AuthorityKeyId) {
			return g
		}
	}
	return p
}

// Refresh reads the CA records again: CAs another process (vccpki ca
// create) added join the hierarchy, CAs another process revoked stop
// issuing, and CAs another process rolled over (vccpki ca rollover) issue
// from their new key. It returns the names of the CAs added or rolled
// over. The server calls it periodically; CreateCA, RevokeCA and
// RolloverCA through this engine apply at once.
func (e *Engine) Refresh(ctx context.Context) ([]string, error) {
	if err := e.reloadRootCRL(ctx); err != nil {
		return nil, err
	}
	recs, err := e.store.CAs(ctx)
	if err != nil {
		return nil, err
	}
	retired, err := e.store.RetiredCAs(ctx)
	if err != nil {
		return nil, err
	}
	e.setMu.Lock()
	defer e.setMu.Unlock()
	cur := e.set.Load()
	next := &caSet{cas: maps.Clone(cur.cas), gens: maps.Clone(cur.gens), ocsp: maps.Clone(cur.ocsp)}
	added, err := e.merge(next, recs, retired)
	if err != nil {
		return nil, err
	}
	if len(added) > 0 || len(next.gens) != len(cur.gens) {
		e.set.Store(next)
		e.caChanged()
	}
	return added, nil
}
