package ca

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	zx509 "github.com/zmap/zcrypto/x509"
	// The root package registers every lint (in its lint packages' init
	// functions); without this import the registry is empty.
	_ "github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
	"github.com/zmap/zlint/v3/util"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
)

// lintSources are the zlint rule sets that apply to a private PKI: the
// RFCs, the CA/Browser Forum's TLS and code-signing requirements (our
// certificates follow them even though no browser trusts our root), and the
// community lints. Root-program, EV, S/MIME and ETSI lints do not apply.
var lintSources = lint.SourceList{
	lint.RFC3279, lint.RFC5280, lint.RFC5480, lint.RFC5891, lint.RFC8813,
	lint.CABFBaselineRequirements, lint.CABFCSBaselineRequirements, lint.Community,
}

// lintAlwaysIgnored are lints whose rule does not hold for a private PKI,
// each with the reason.
var lintAlwaysIgnored = []string{
	// BR §7.1.2.7.7 wants AIA URLs on public names; a private CA's OCSP and
	// caIssuers URLs name its own internal host.
	"w_sub_cert_aia_contains_internal_names",
	// RFC 5280 §4.2.1.2 says end-entity certificates SHOULD carry a subject
	// key identifier (w_ext_subject_key_identifier_missing_sub_cert); the
	// BR 2023 profile says NOT RECOMMENDED. The two lints contradict each
	// other; we follow the RFC, which also helps path building.
	"w_ext_subject_key_identifier_not_recommended_subscriber",
	// Verifies every certificate's signature against one compromised
	// public CA's P-384 key: 95% of the lint time of a certificate, and it
	// cannot fire on certificates our own keys sign.
	"e_cert_issued_by_compromised_emudhra_ca",
}

// IgnoredLints returns every lint not applied to certificates of a
// profile: the engine-wide list and the profile's lint_ignore.
func IgnoredLints(p *profile.Profile) []string {
	return append(slices.Clone(lintAlwaysIgnored), p.LintIgnore...)
}

// ed25519Lints are the BR lints (§7.1.3.1, §7.1.3.2: RSA and ECDSA only)
// that an Ed25519 key or signature fails. RFC 8410 allows Ed25519; an
// operator who configures it for the hierarchy or a profile chose it.
var ed25519Lints = []string{"e_signature_algorithm_not_supported", "e_cs_signature_algorithm_not_supported", "e_algorithm_identifier_improper_encoding"}

// lintIgnoreFor is the ignore list for one issuance.
func lintIgnoreFor(p *profile.Profile, issuerEd25519 bool, pub crypto.PublicKey) []string {
	ignore := IgnoredLints(p)
	if _, ok := pub.(ed25519.PublicKey); ok || issuerEd25519 {
		ignore = append(ignore, ed25519Lints...)
	}
	return ignore
}

// HierarchyLintIgnore lists the lints not applied to a certificate of the
// hierarchy itself, by name.
func HierarchyLintIgnore(name string) []string {
	ignore := slices.Clone(lintAlwaysIgnored)
	// A CA made by vccpki ca create may be constrained to private networks
	// (RFC 1918, RFC 5737): BR §7.1.2.10.8 keeps public CAs from naming
	// reserved ranges; a private CA's partners live there.
	ignore = append(ignore, "e_ext_nc_intersects_reserved_ip")
	if name == HTTPSName {
		// The server's own certificate names localhost, 127.0.0.1 and ::1,
		// which no public CA may (BR §7.1.4.2.1, §3.2.2.4): it is for
		// loopback clients and internal names.
		ignore = append(ignore, "e_dnsname_not_valid_tld", "e_ext_san_contains_reserved_ip")
	}
	return ignore
}

// minLints is far below the ~300 lints the sources above hold in zlint
// v3.7, and far above zero.
const minLints = 100

// linter holds the lints to run for each set of ignored lints.
type linter struct {
	mu   sync.Mutex
	sets map[string]*lintSet
}

// lintSet is a filtered registry, flattened once: zlint's own
// LintCertificateEx sorts the registry's names on every call.
type lintSet struct {
	lints  []*lint.CertificateLint
	config lint.Configuration
	// ready holds *[]lint.CertificateLintInterface: one configured instance
	// of each lint, used by one check at a time. zlint's Execute makes a
	// new instance per lint and certificate and decodes the configuration
	// into the configurable ones each time (reflection): a tenth of the
	// lint time.
	ready sync.Pool
}

// instances returns configured instances of the set's lints, to give back
// with ready.Put when the check is done.
func (s *lintSet) instances() (*[]lint.CertificateLintInterface, error) {
	if v, ok := s.ready.Get().(*[]lint.CertificateLintInterface); ok {
		return v, nil
	}
	out := make([]lint.CertificateLintInterface, len(s.lints))
	for i, lt := range s.lints {
		out[i] = lt.Lint()
		if err := s.config.MaybeConfigure(out[i], lt.Name); err != nil {
			return nil, fmt.Errorf("configuring lint %s: %w", lt.Name, err)
		}
	}
	return &out, nil
}

func newLinter() (*linter, error) {
	l := &linter{sets: map[string]*lintSet{}}
	_, err := l.set(lintAlwaysIgnored)
	return l, err
}

func (l *linter) set(ignore []string) (*lintSet, error) {
	key := strings.Join(ignore, ",")
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sets[key]; ok {
		return s, nil
	}
	r, err := lint.GlobalRegistry().Filter(lint.FilterOptions{
		IncludeSources: lintSources,
		ExcludeNames:   ignore,
	})
	if err != nil {
		return nil, fmt.Errorf("building the zlint registry: %w", err)
	}
	s := &lintSet{lints: r.CertificateLints().Lints(), config: r.GetConfiguration()}
	// A lint set this small means the lints were not registered: refuse
	// to issue rather than issue unlinted.
	if len(s.lints) < minLints {
		return nil, fmt.Errorf("only %d zlint lints are registered; refusing to issue unlinted certificates", len(s.lints))
	}
	l.sets[key] = s
	return s, nil
}

// LintFindings are the lint results at warning level or above.
type LintFindings struct {
	Errors   []string // "e_name: details"; any error refuses issuance
	Warnings []string
}

// check lints DER-encoded certificate der.
func (l *linter) check(der []byte, ignore []string) (LintFindings, error) {
	set, err := l.set(ignore)
	if err != nil {
		return LintFindings{}, err
	}
	zc, err := zx509.ParseCertificate(der)
	if err != nil {
		return LintFindings{}, fmt.Errorf("zcrypto cannot parse the certificate: %w", err)
	}
	inst, err := set.instances()
	if err != nil {
		return LintFindings{}, err
	}
	defer set.ready.Put(inst)
	// zlint's framework filter (lint.CertificateLint.execute), decided
	// once per certificate instead of once per lint.
	applies := map[lint.LintSource]bool{
		lint.CABFBaselineRequirements:      util.IsServerAuthCert(zc),
		lint.CABFSMIMEBaselineRequirements: util.IsEmailProtectionCert(zc),
		lint.CABFCSBaselineRequirements:    util.IsCodeSigning(zc.PolicyIdentifiers),
	}
	var f LintFindings
	for i, lt := range set.lints {
		if ok, filtered := applies[lt.Source]; filtered && !ok && !lt.OverrideFrameworkFilter {
			continue // NA
		}
		r := runLint(lt, (*inst)[i], zc)
		if r.Status < lint.Warn {
			continue
		}
		msg := lt.Name
		if r.Details != "" {
			msg += ": " + r.Details
		}
		switch {
		case r.Status >= lint.Error:
			f.Errors = append(f.Errors, msg)
		case r.Status == lint.Warn:
			f.Warnings = append(f.Warnings, msg)
		}
	}
	sort.Strings(f.Errors)
	sort.Strings(f.Warnings)
	return f, nil
}

// runLint is zlint's CertificateLint.Execute after the framework filter,
// with an instance configured beforehand: a lint that panics is Fatal.
func runLint(lt *lint.CertificateLint, l lint.CertificateLintInterface, zc *zx509.Certificate) (r *lint.LintResult) {
	defer func() {
		if err := recover(); err != nil {
			r = &lint.LintResult{Status: lint.Fatal, Details: fmt.Sprintf("'%s' panicked. Error: %v", lt.Name, err)}
		}
	}()
	switch {
	case !l.CheckApplies(zc):
		return &lint.LintResult{Status: lint.NA}
	case !lt.CheckEffective(zc):
		return &lint.LintResult{Status: lint.NE}
	}
	return l.Execute(zc)
}

// lintIssuer stands in for an issuing CA when certificates are signed for
// linting: the same subject and key identifier, a throwaway key of the same
// type, so the TBSCertificate is byte for byte the one the real key signs.
type lintIssuer struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newLintIssuer(real *x509.Certificate) (*lintIssuer, error) {
	t, err := keys.TypeOf(real.PublicKey)
	if err != nil {
		return nil, err
	}
	k, err := keys.Generate(t)
	if err != nil {
		return nil, err
	}
	c := *real
	c.PublicKey = k.Public()
	return &lintIssuer{cert: &c, key: k}, nil
}

// sign returns the DER certificate crypto/x509 makes of tmpl, signed
// with the stand-in key. crypto/x509 verifies every signature it makes,
// which here proves nothing (the key is our own, in memory, and the real
// signature is verified in Engine.sign): it costs a third of the lint
// phase. So x509 encodes the TBSCertificate for tbsCatcher, and the
// stand-in signs those bytes directly.
func (li *lintIssuer) sign(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	c := &tbsCatcher{pub: li.key.Public()}
	if _, err := x509.CreateCertificate(rand.Reader, tmpl, li.cert, pub, c); !errors.Is(err, errTBSCaught) {
		if err == nil {
			err = errors.New("crypto/x509 made a certificate without asking for a signature")
		}
		return nil, err
	}
	alg, err := sigAlgFor(c.pub)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tbsSignatureAlgorithm(c.tbs), alg.algID) {
		return nil, errors.New("crypto/x509 names another signature algorithm than the lint key's")
	}
	sig, err := alg.sign(li.key, c.tbs)
	if err != nil {
		return nil, err
	}
	return certificateDER(c.tbs, alg.algID, sig), nil
}

// tbsCatcher is a crypto.MessageSigner that keeps the TBSCertificate
// crypto/x509 hands it and signs nothing.
type tbsCatcher struct {
	pub crypto.PublicKey
	tbs []byte
}

var errTBSCaught = errors.New("TBSCertificate caught")

func (c *tbsCatcher) Public() crypto.PublicKey { return c.pub }

func (c *tbsCatcher) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errTBSCaught // only asked when not a MessageSigner
}

func (c *tbsCatcher) SignMessage(_ io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	c.tbs = bytes.Clone(msg)
	return nil, errTBSCaught
}

// lintIssuer returns the authority's stand-in for linting, made on first use.
func (a *authority) lintIssuer() (*lintIssuer, error) {
	a.lintOnce.Do(func() { a.lint, a.lintErr = newLintIssuer(a.cert) })
	return a.lint, a.lintErr
}

// tbsSignatureAlgorithm returns the DER AlgorithmIdentifier in a
// TBSCertificate's signature field (RFC 5280 §4.1.2.3), or nil.
func tbsSignatureAlgorithm(tbs []byte) []byte {
	in := cryptobyte.String(tbs)
	var body, alg cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) ||
		!body.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!body.SkipASN1(cbasn1.INTEGER) || // serialNumber
		!body.ReadASN1Element(&alg, cbasn1.SEQUENCE) {
		return nil
	}
	return alg
}

// tbsOf returns the raw TBSCertificate of a DER certificate.
func tbsOf(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var cert cryptobyte.String
	var tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1Element(&tbs, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("malformed certificate")
	}
	return tbs, nil
}
