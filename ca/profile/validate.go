package profile

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/vcc/vccpki/store"
)

// Limits of the schema. Each is a policy choice of vccpki unless it cites a
// standard.
const (
	defaultMaxNames = 100
	// maxMaxNames: nothing in RFC 5280 bounds the SAN count; 1000 keeps
	// certificates (and the per-name validation work) reasonable.
	maxMaxNames = 1000
	// maxValidity: end-entity certificates live at most one year (vccpki
	// policy; far below what RFC 5280 allows, and short lifetimes are what
	// automated renewal per RFC 8555 is for).
	maxValidity     = 8760 * time.Hour
	defaultBackdate = time.Minute // absorbs client clock skew
	// RSA moduli below 2048 bits are too weak (NIST SP 800-131A); above
	// 8192 they only cost verification time.
	minRSABits = 2048
	maxRSABits = 8192
	// Defaults of an rsa rule without min_bits or max_bits.
	defaultRSAMin     = 2048
	defaultRSAMax     = 4096
	maxDescriptionLen = 200
)

var (
	reName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// zlint names: a severity letter (e, w, n...), then snake_case.
	reLintName = regexp.MustCompile(`^[a-z]_[a-z0-9_]+$`)

	keyUsageNames = map[string]x509.KeyUsage{
		"digital_signature":  x509.KeyUsageDigitalSignature,
		"content_commitment": x509.KeyUsageContentCommitment,
		"key_encipherment":   x509.KeyUsageKeyEncipherment,
		"data_encipherment":  x509.KeyUsageDataEncipherment,
		"key_agreement":      x509.KeyUsageKeyAgreement,
	}
	extKeyUsageNames = map[string]x509.ExtKeyUsage{
		"server_auth":      x509.ExtKeyUsageServerAuth,
		"client_auth":      x509.ExtKeyUsageClientAuth,
		"code_signing":     x509.ExtKeyUsageCodeSigning,
		"email_protection": x509.ExtKeyUsageEmailProtection,
		"time_stamping":    x509.ExtKeyUsageTimeStamping,
		"ocsp_signing":     x509.ExtKeyUsageOCSPSigning,
	}
	curveNames = []string{"P-256", "P-384", "P-521"}
)

// checker collects the errors of one file.
type checker struct {
	file string
	skip map[string]bool // top-level fields that failed to decode
	errs []error
}

func (c *checker) addf(field, format string, args ...any) {
	if c.skip[topLevel(field)] {
		return
	}
	c.errs = append(c.errs, fieldErr(c.file, field, fmt.Sprintf(format, args...)))
}

func parse(file string, data []byte, issuers map[string]bool) (*Profile, error) {
	base := filepath.Base(file)
	name, ok := strings.CutSuffix(base, ".yaml")
	var cfg fileConfig
	errs, bad, fatal := decode(file, data, &cfg)
	c := &checker{file: file, skip: bad, errs: errs}
	if !ok || !reName.MatchString(name) {
		c.errs = append(c.errs, fieldErr(file, "", fmt.Sprintf(
			"the file name gives the profile name: %q must be <name>.yaml with a name matching %s", base, reName)))
	}
	if fatal {
		return nil, errors.Join(c.errs...)
	}
	p := c.validate(name, &cfg, issuers)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	p.ix = buildIndex(p)
	return p, nil
}

func (c *checker) validate(name string, cfg *fileConfig, issuers map[string]bool) *Profile {
	p := &Profile{
		Name:           name,
		Description:    strings.TrimSpace(cfg.Description),
		Issuer:         cfg.Issuer,
		Organisation:   store.OrgOf(cfg.Organisation),
		AllowWildcard:  cfg.Identifiers.AllowWildcard,
		SubjectPattern: cfg.Identifiers.Subject,
		SubjectURI:     cfg.Identifiers.SubjectURI,
		RequireBinding: cfg.RequireBinding,
	}
	switch {
	case p.Description == "":
		c.addf("description", "is required: one line saying what the profile is for (shown in the ACME directory)")
	case strings.ContainsFunc(p.Description, unicode.IsControl):
		c.addf("description", "must be one line without control characters")
	case len(p.Description) > maxDescriptionLen:
		c.addf("description", "is longer than %d characters", maxDescriptionLen)
	}
	switch {
	case cfg.Issuer == "":
		c.addf("issuer", "is required: the name of the issuing CA (known: %s)", setList(issuers))
	case !issuers[cfg.Issuer]:
		c.addf("issuer", "%q is not a known issuer (known: %s)", cfg.Issuer, setList(issuers))
	}
	if !store.ValidOrgName(p.Organisation) {
		c.addf("organisation", "%q is not an organisation name (a lowercase DNS label, e.g. vcc)", cfg.Organisation)
	}
	p.Protocols = c.names("protocols", cfg.Protocols, func(s string) bool { return s == ProtocolACME || s == ProtocolEST || s == ProtocolAPI },
		"use acme, est or api; the operator CLI is always allowed")
	c.identifiers(p, &cfg.Identifiers)
	c.keys(p, cfg.Keys)
	c.times(p, cfg)
	c.usages(p, cfg)
	if cfg.RenewalFraction == nil {
		c.addf("renewal_fraction", "is required: the fraction of the lifetime left when renewal starts, e.g. 0.33")
	} else if f := *cfg.RenewalFraction; !(f > 0 && f < 1) {
		c.addf("renewal_fraction", "%v is not between 0 and 1 (exclusive)", f)
	} else {
		p.RenewalFraction = f
	}
	for i, l := range cfg.LintIgnore {
		if !reLintName.MatchString(l) {
			c.addf(fmt.Sprintf("lint_ignore[%d]", i), "%q is not a zlint lint name (like e_dnsname_not_valid_tld)", l)
		}
	}
	p.LintIgnore = c.noDup("lint_ignore", cfg.LintIgnore)
	c.est(p, cfg.EST)
	return p
}

// names checks a list of names that must be non-empty, known and unique.
func (c *checker) names(field string, list []string, known func(string) bool, hint string) []string {
	if len(list) == 0 {
		c.addf(field, "is required and must not be empty (%s)", hint)
		return nil
	}
	for i, s := range list {
		if !known(s) {
			c.addf(fmt.Sprintf("%s[%d]", field, i), "%q is not known (%s)", s, hint)
		}
	}
	return c.noDup(field, list)
}

// noDup reports repeated entries and returns a copy of list.
func (c *checker) noDup(field string, list []string) []string {
	seen := make(map[string]bool, len(list))
	for i, s := range list {
		if seen[s] {
			c.addf(fmt.Sprintf("%s[%d]", field, i), "%q is listed twice", s)
		}
		seen[s] = true
	}
	return slices.Clone(list)
}

func (c *checker) identifiers(p *Profile, id *identifiersConfig) {
	wildcards := 0
	for i, pat := range id.DNS {
		f := fmt.Sprintf("identifiers.dns[%d]", i)
		if reason := hostnameProblem(pat); reason != "" {
			c.addf(f, "%q is not a valid DNS pattern: %s", pat, reason)
		} else if pat != strings.ToLower(pat) {
			c.addf(f, "%q must be lowercase (matching ignores case)", pat)
		} else if strings.HasPrefix(pat, "*.") {
			wildcards++
		}
	}
	p.DNSPatterns = c.noDup("identifiers.dns", id.DNS)
	seenIP := make(map[netip.Prefix]bool, len(id.IP))
	for i, s := range id.IP {
		f := fmt.Sprintf("identifiers.ip[%d]", i)
		pfx, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			c.addf(f, "%q is not a CIDR prefix like 10.20.0.0/16 or fd00:20::/48", s)
		case pfx.Addr().Is4In6():
			c.addf(f, "%q is an IPv4-mapped IPv6 prefix; write the IPv4 prefix instead", s)
		case pfx != pfx.Masked():
			c.addf(f, "%q has host bits set; did you mean %s?", s, pfx.Masked())
		case seenIP[pfx]:
			c.addf(f, "%q is listed twice", s)
		default:
			seenIP[pfx] = true
			p.IPPrefixes = append(p.IPPrefixes, pfx)
		}
	}
	if id.AllowWildcard && wildcards == 0 && len(id.DNS) > 0 {
		c.addf("identifiers.allow_wildcard", "is true but no identifiers.dns pattern starts with \"*.\", so no wildcard name could be issued")
	}
	for i, s := range id.URI {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.String() != s || strings.ContainsFunc(s, unicode.IsSpace) {
			c.addf(fmt.Sprintf("identifiers.uri[%d]", i), "%q is not an absolute URI like urn:vccpki:role:pki_admin", s)
		}
	}
	p.URIs = c.noDup("identifiers.uri", id.URI)
	if len(id.URI) > 0 && id.Subject == "" {
		c.addf("identifiers.subject", "is required with identifiers.uri: the commonName names the client")
	}
	if id.Subject != "" {
		_, err := path.Match(id.Subject, "") // checks the whole pattern
		if err != nil {
			c.addf("identifiers.subject", "%q is not a valid glob (path.Match syntax: *, ?, [a-z])", id.Subject)
		}
	}
	p.MaxNames = defaultMaxNames
	if id.MaxNames != nil {
		if n := *id.MaxNames; n < 1 || n > maxMaxNames {
			c.addf("identifiers.max_names", "%d is not between 1 and %d", n, maxMaxNames)
		} else {
			p.MaxNames = n
		}
	}
}

func (c *checker) keys(p *Profile, keys []keyConfig) {
	if len(keys) == 0 {
		c.addf("keys", "is required: at least one rule like {type: ecdsa, curves: [P-256, P-384]}")
		return
	}
	seen := map[string]bool{}
	for i, k := range keys {
		f := fmt.Sprintf("keys[%d]", i)
		r := KeyRule{Type: k.Type}
		if seen[k.Type] {
			c.addf(f+".type", "%q has a rule already; merge the two", k.Type)
		}
		seen[k.Type] = true
		if k.Type != KeyRSA && (k.MinBits != nil || k.MaxBits != nil) {
			c.addf(f, "min_bits and max_bits are for rsa keys only")
		}
		if k.Type != KeyECDSA && k.Curves != nil {
			c.addf(f+".curves", "is for ecdsa keys only")
		}
		switch k.Type {
		case KeyECDSA:
			// RFC 5480 §2.1.1.1 named curves; Go's crypto/x509 parses these three.
			r.Curves = c.names(f+".curves", k.Curves, func(s string) bool { return slices.Contains(curveNames, s) },
				"P-256, P-384 or P-521")
		case KeyRSA:
			r.MinBits, r.MaxBits = defaultRSAMin, defaultRSAMax
			if k.MinBits != nil {
				r.MinBits = *k.MinBits
			}
			if k.MaxBits != nil {
				r.MaxBits = *k.MaxBits
			}
			if r.MinBits < minRSABits {
				c.addf(f+".min_bits", "%d is below %d bits (NIST SP 800-131A)", r.MinBits, minRSABits)
			}
			if r.MaxBits > maxRSABits {
				c.addf(f+".max_bits", "%d is above %d bits", r.MaxBits, maxRSABits)
			}
			if r.MinBits > r.MaxBits {
				c.addf(f+".min_bits", "%d is larger than max_bits %d", r.MinBits, r.MaxBits)
			}
		case KeyEd25519: // RFC 8410: one size
		case "":
			c.addf(f+".type", "is required: ecdsa, rsa or ed25519")
		default:
			c.addf(f+".type", "%q is not a key type (use ecdsa, rsa or ed25519)", k.Type)
		}
		p.Keys = append(p.Keys, r)
	}
}

func (c *checker) times(p *Profile, cfg *fileConfig) {
	validOK := false
	if cfg.Validity == "" {
		c.addf("validity", "is required: a Go duration like 168h")
	} else if d, ok := c.duration("validity", cfg.Validity); ok {
		switch {
		case d <= 0:
			c.addf("validity", "%q must be positive", cfg.Validity)
		case d > maxValidity:
			c.addf("validity", "%q is longer than %s, the most for an end-entity certificate", cfg.Validity, maxValidity)
		default:
			p.Validity, validOK = d, true
		}
	}
	p.Backdate = defaultBackdate
	if cfg.Backdate != nil {
		d, ok := c.duration("backdate", *cfg.Backdate)
		switch {
		case !ok:
		case d < 0:
			c.addf("backdate", "%q must not be negative", *cfg.Backdate)
		case validOK && d >= p.Validity:
			c.addf("backdate", "%q must be shorter than validity %q", *cfg.Backdate, cfg.Validity)
		default:
			p.Backdate = d
		}
	} else if validOK && p.Backdate >= p.Validity {
		c.addf("backdate", "the default %s must be shorter than validity %q; set backdate", defaultBackdate, cfg.Validity)
	}
}

func (c *checker) duration(field, s string) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	if err != nil {
		c.addf(field, "%q is not a duration (use e.g. 168h)", s)
		return 0, false
	}
	return d, true
}

func (c *checker) usages(p *Profile, cfg *fileConfig) {
	kus := c.names("key_usage", cfg.KeyUsage, func(s string) bool { _, ok := keyUsageNames[s]; return ok },
		"digital_signature, content_commitment, key_encipherment, data_encipherment, key_agreement")
	for _, s := range kus {
		p.KeyUsage |= keyUsageNames[s]
	}
	if p.KeyUsage != 0 {
		// RFC 3279 §2.3.1, RFC 5480 §3 and RFC 8410 §5 restrict the usages
		// per key type; KeyUsageFor drops the others, so each allowed key
		// type must keep at least one.
		for _, r := range p.Keys {
			if usageFor(r.Type, p.KeyUsage) == 0 {
				c.addf("key_usage", "leaves no usage for %s keys (add digital_signature)", r.Type)
			}
		}
	}
	ekus := c.names("ext_key_usage", cfg.ExtKeyUsage, func(s string) bool { _, ok := extKeyUsageNames[s]; return ok },
		"server_auth, client_auth, code_signing, email_protection, time_stamping, ocsp_signing")
	for _, s := range ekus {
		p.ExtKeyUsage = append(p.ExtKeyUsage, extKeyUsageNames[s])
	}
	id := &cfg.Identifiers
	hosts := len(id.DNS) > 0 || len(id.IP) > 0
	tls := slices.Contains(ekus, "server_auth") || slices.Contains(ekus, "client_auth")
	codeSigning := slices.Contains(ekus, "code_signing")
	// A role client profile (admin) names a subject and URI SANs, the
	// roles its client certificates grant, and no host.
	roles := len(id.URI) > 0
	if roles {
		if !slices.Equal(ekus, []string{"client_auth"}) {
			c.addf("identifiers.uri", "is only for client certificates: ext_key_usage must be exactly [client_auth]")
		}
		if hosts {
			c.addf("identifiers", "a profile with uri names a subject, not hosts: dns and ip must be empty")
		}
	} else if tls && !hosts {
		c.addf("identifiers", "needs at least one dns or ip pattern: ext_key_usage has server_auth or client_auth")
	}
	if codeSigning {
		if id.Subject == "" {
			c.addf("identifiers.subject", "is required when ext_key_usage has code_signing (a glob such as \"clara-*\")")
		}
		if len(id.DNS) > 0 {
			c.addf("identifiers.dns", "must be empty when ext_key_usage has code_signing: code signing certificates name a subject, not hosts")
		}
		if len(id.IP) > 0 {
			c.addf("identifiers.ip", "must be empty when ext_key_usage has code_signing: code signing certificates name a subject, not hosts")
		}
		if id.SubjectURI != "" {
			if u, err := url.Parse(id.SubjectURI + "x"); err != nil || !u.IsAbs() {
				c.addf("identifiers.subject_uri", "%q is not an absolute URI prefix (e.g. \"urn:vcc:signer:\")", id.SubjectURI)
			}
		}
	} else if id.SubjectURI != "" {
		c.addf("identifiers.subject_uri", "is only for code signing profiles (ext_key_usage code_signing)")
	} else if id.Subject != "" && len(ekus) > 0 && !roles {
		c.addf("identifiers.subject", "is only for code signing profiles (ext_key_usage code_signing) and role client profiles (identifiers.uri)")
	}
}

// setList renders a set of names for an error message.
func setList(m map[string]bool) string {
	if len(m) == 0 {
		return "none are configured"
	}
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
