package ca

import (
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

// load builds the first snapshot from the store's CA records.
func (e *Engine) load(recs []store.CARecord) error {
	set := &caSet{cas: map[string]*authority{}, ocsp: map[string]*OCSPResponder{}}
	if _, err := e.merge(set, recs); err != nil {
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

// merge adds to set the records it does not hold yet, links them to their
// parents, gives each new issuing CA its OCSP responder, and marks
// revoked the authorities whose record says so. It returns the names
// added.
func (e *Engine) merge(set *caSet, recs []store.CARecord) ([]string, error) {
	var added []string
	for _, r := range recs {
		if r.Name == HTTPSName && e.https.Load() != nil {
			continue // renewed in place (https_renew.go)
		}
		if _, ok := set.cas[r.Name]; ok {
			continue
		}
		c, err := x509.ParseCertificate(r.DER)
		if err != nil {
			return nil, fmt.Errorf("CA record %q: %w", r.Name, err)
		}
		a := &authority{name: r.Name, role: r.Role, keyID: r.KeyID, cert: c}
		a.ed25519 = c.PublicKeyAlgorithm == x509.Ed25519
		set.cas[r.Name] = a
		added = append(added, r.Name)
	}
	for _, n := range added {
		a := set.cas[n]
		var parent string
		for _, r := range recs {
			if r.Name == n {
				parent = r.Parent
			}
		}
		if parent == "" {
			continue
		}
		if a.parent = set.cas[parent]; a.parent == nil {
			return nil, fmt.Errorf("CA record %q names an unknown parent %q", n, parent)
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
	for n, a := range set.cas {
		r := set.cas[OCSPResponderName(n)]
		if a.role != "intermediate" || r == nil || set.ocsp[n] != nil {
			continue
		}
		resp, err := newOCSPResponder(e, a, r)
		if err != nil {
			return nil, fmt.Errorf("the OCSP responder of %s: %w", n, err)
		}
		set.ocsp[n] = resp
	}
	return added, nil
}

// Refresh reads the CA records again: CAs another process (vccpki ca
// create) added join the hierarchy, and CAs another process revoked stop
// issuing. It returns the names of the CAs added. The server calls it
// periodically; CreateCA and RevokeCA through this engine apply at once.
func (e *Engine) Refresh(ctx context.Context) ([]string, error) {
	if err := e.reloadRootCRL(ctx); err != nil {
		return nil, err
	}
	recs, err := e.store.CAs(ctx)
	if err != nil {
		return nil, err
	}
	e.setMu.Lock()
	defer e.setMu.Unlock()
	cur := e.set.Load()
	next := &caSet{cas: maps.Clone(cur.cas), ocsp: maps.Clone(cur.ocsp)}
	added, err := e.merge(next, recs)
	if err != nil {
		return nil, err
	}
	if len(added) > 0 {
		e.set.Store(next)
		e.caChanged()
	}
	return added, nil
}
