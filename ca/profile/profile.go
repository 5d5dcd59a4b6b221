// Package profile loads and enforces the per-service profile templates of
// vccpki (configs/profiles/<name>.yaml).
//
// A template is decoded strictly (an unknown field is an error) into config
// structs, then validated into a read-only [Profile]. Every load error names
// the file, the field and the reason, and all errors of a file are reported
// together. The profile name is the file name without ".yaml"; it is also the
// ACME profile name and the EST label.
//
// The Check methods are on the issuance path: they use indexes built at load
// time and allocate only when they reject.
package profile

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vcc/vccpki/store"
)

// Protocol names a profile can open itself to.
const (
	ProtocolACME = "acme" // RFC 8555
	ProtocolEST  = "est"  // RFC 7030
	ProtocolAPI  = "api"  // the management API's issuance (/api/v1)
	// ProtocolOperator is the local `vccpki issue` CLI. It is always allowed
	// and cannot be listed in a template.
	ProtocolOperator = "operator"
)

// DefaultName is the profile every installation must have: the one used
// when a client names no profile (the ACME order without "profile", the EST
// URL without a label).
const DefaultName = "default"

// maxFileSize bounds a template file. Real templates are about 1 KiB; the
// bound keeps a mistaken path (a log file, a binary) from being slurped.
const maxFileSize = 1 << 20

// Profile is a validated profile template. Values come from [Load] or
// [Parse] and are read-only: the Check methods use indexes built from the
// fields at load time, so changing a field afterwards is not seen by them.
// A *Profile is safe for concurrent use.
type Profile struct {
	Name        string // file name without ".yaml"
	Description string // one line, shown in the ACME directory
	Issuer      string // name of the issuing CA
	// Organisation owns the profile; it may only name an issuing CA the
	// organisation owns (checked against the store by ca.Open). Default:
	// the operator, store.OperatorOrg.
	Organisation string
	Protocols    []string // ProtocolACME and/or ProtocolEST

	DNSPatterns    []string       // lowercase; exact names or "*." + name
	IPPrefixes     []netip.Prefix // canonical (masked) prefixes
	AllowWildcard  bool           // a requested name may itself be "*.name"
	SubjectPattern string         // path.Match glob for the subject commonName (code signing)
	// URIs are the URI SANs a certificate may carry, exactly (the admin
	// profile's role URNs, urn:vccpki:role:<role>); a subject-pattern
	// profile with URIs needs at least one in every request.
	URIs []string
	// SubjectURI, when set, is a URI prefix: the certificate also names
	// its signer as the URI SAN SubjectURI+commonName (code signing), which
	// Sigstore verifiers (cosign, sigstore-go) need: they refuse a
	// certificate without a SAN.
	SubjectURI  string
	MaxNames    int           // most identifiers in one certificate
	Keys        []KeyRule     // accepted subject public keys
	Validity    time.Duration // notAfter - notBefore, backdate included
	Backdate    time.Duration // notBefore = issuance time - Backdate
	KeyUsage    x509.KeyUsage // as configured; see KeyUsageFor
	ExtKeyUsage []x509.ExtKeyUsage
	// RenewalFraction is the fraction of a certificate's lifetime that is
	// left when renewal should start (see RenewalWindow).
	RenewalFraction float64
	RequireBinding  bool        // an ACME EAB or EST credential must be bound to this service
	LintIgnore      []string    // zlint lint names not applied to this profile
	EST             ESTSettings // EST rules; zero unless Protocols lists est

	ix *index // built by Parse; nil for a hand-made Profile
}

// KeyRule is one accepted kind of subject public key.
type KeyRule struct {
	Type    string   // KeyECDSA, KeyRSA or KeyEd25519
	Curves  []string // ECDSA only: "P-256", "P-384", "P-521"
	MinBits int      // RSA only: smallest modulus, in bits
	MaxBits int      // RSA only: largest modulus, in bits
}

// Key types of a KeyRule.
const (
	KeyECDSA   = "ecdsa"
	KeyRSA     = "rsa"
	KeyEd25519 = "ed25519"
)

// AllowsProtocol reports whether the front end proto ("acme", "est") may
// issue from p. ProtocolOperator is always allowed.
func (p *Profile) AllowsProtocol(proto string) bool {
	return proto == ProtocolOperator || slices.Contains(p.Protocols, proto)
}

// RenewalWindow returns the start and end of the window in which a certificate valid from
// notBefore to notAfter should be renewed; it is what ACME renewal
// information (RFC 9773 §4.2, suggestedWindow) reports.
//
// The window opens when RenewalFraction of the lifetime is left and closes
// halfway from there to expiry: start = notAfter - f*lifetime and end =
// start + f*lifetime/2. Clients pick a random time inside it (RFC 9773
// §4.2), which spreads renewals, and a client that renews at the very end
// still has f/2 of the lifetime for retries before the certificate expires.
// For a 168h certificate and f = 0.33 the window is 55.4h to 27.7h before
// expiry. A certificate with no positive lifetime gets (notAfter, notAfter).
func (p *Profile) RenewalWindow(notBefore, notAfter time.Time) (time.Time, time.Time) {
	lifetime := notAfter.Sub(notBefore)
	if lifetime <= 0 {
		return notAfter, notAfter
	}
	lead := time.Duration(float64(lifetime) * p.RenewalFraction)
	start := notAfter.Add(-lead)
	return start, start.Add(lead / 2)
}

// Set is the immutable set of profiles loaded from one directory. It is safe
// for concurrent use.
type Set struct {
	byName map[string]*Profile
	all    []*Profile // sorted by name
	names  []string   // sorted
}

// Get returns the profile called name.
func (s *Set) Get(name string) (*Profile, bool) {
	p, ok := s.byName[name]
	return p, ok
}

// Names returns the profile names, sorted. The slice is the caller's.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// All returns the profiles sorted by name. The slice is the caller's; the
// profiles are shared and read-only.
func (s *Set) All() []*Profile { return slices.Clone(s.all) }

// Load reads every *.yaml file in dir as a profile template. issuers are the
// names of the issuing CAs a template may name. It fails if any template is
// invalid (the error lists every problem of every file), if dir holds no
// template, or if there is no "default" template.
func Load(dir string, issuers []string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("profile templates: %w", err)
	}
	known := issuerSet(issuers)
	set := &Set{byName: make(map[string]*Profile)}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		file := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".yml") {
			// Only *.yaml is read; say so rather than skip a template silently.
			errs = append(errs, fmt.Errorf("%s: not read: profile templates must end in .yaml", file))
			continue
		}
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		if e.IsDir() {
			errs = append(errs, fmt.Errorf("%s: is a directory, not a profile template", file))
			continue
		}
		data, err := readLimited(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, err := parse(file, data, known)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.byName[p.Name] = p
		set.all = append(set.all, p)
	}
	if len(set.all) == 0 && len(errs) == 0 {
		return nil, fmt.Errorf("%s: no profile templates (*.yaml)", dir)
	}
	if _, ok := set.byName[DefaultName]; !ok && !hasFile(entries, DefaultName+".yaml") {
		errs = append(errs, fmt.Errorf("%s: no %q profile: create %s.yaml, the profile used when a client names none", dir, DefaultName, DefaultName))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(set.all, func(i, j int) bool { return set.all[i].Name < set.all[j].Name })
	for _, p := range set.all {
		set.names = append(set.names, p.Name)
	}
	return set, nil
}

// Parse validates one template. file is its path, used in error messages and
// for the profile name (the base name without ".yaml"); data is its content.
// Load calls Parse for each file; tests and tools may call it directly.
func Parse(file string, data []byte, issuers []string) (*Profile, error) {
	return parse(file, data, issuerSet(issuers))
}

func issuerSet(issuers []string) map[string]bool {
	m := make(map[string]bool, len(issuers))
	for _, i := range issuers {
		m[i] = true
	}
	return m
}

func hasFile(entries []os.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name() == name {
			return true
		}
	}
	return false
}

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return data, nil
}

// Of returns the profiles of one organisation, sorted by name: what its
// ACME directory and EST labels serve.
func (s *Set) Of(org string) []*Profile {
	var out []*Profile
	for _, p := range s.all {
		if store.OrgOf(p.Organisation) == store.OrgOf(org) {
			out = append(out, p)
		}
	}
	return out
}
