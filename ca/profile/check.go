package profile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vcc/vccpki/ca/caerr"
)

// index holds what the Check methods look up, built once per profile.
type index struct {
	exact     map[string]struct{} // lowercase names from patterns without "*."
	wildBases map[string]struct{} // "x.y" for each pattern "*.x.y"
	names     string              // patterns, for messages
	ips       string              // prefixes, for messages
	keys      string              // "RSA 2048-4096 bits, ECDSA P-256/P-384, Ed25519"
}

func buildIndex(p *Profile) *index {
	ix := &index{exact: map[string]struct{}{}, wildBases: map[string]struct{}{}}
	for _, pat := range p.DNSPatterns {
		pat = strings.ToLower(pat)
		if base, ok := strings.CutPrefix(pat, "*."); ok {
			ix.wildBases[base] = struct{}{}
		} else {
			ix.exact[pat] = struct{}{}
		}
	}
	ix.names = strings.Join(p.DNSPatterns, ", ")
	ips := make([]string, len(p.IPPrefixes))
	for i, pfx := range p.IPPrefixes {
		ips[i] = pfx.String()
	}
	ix.ips = strings.Join(ips, ", ")
	var keys []string
	for _, r := range p.Keys {
		switch r.Type {
		case KeyRSA:
			if r.MinBits == r.MaxBits {
				keys = append(keys, fmt.Sprintf("RSA %d bits", r.MinBits))
			} else {
				keys = append(keys, fmt.Sprintf("RSA %d-%d bits", r.MinBits, r.MaxBits))
			}
		case KeyECDSA:
			keys = append(keys, "ECDSA "+strings.Join(r.Curves, "/"))
		case KeyEd25519:
			keys = append(keys, "Ed25519")
		}
	}
	ix.keys = strings.Join(keys, ", ")
	return ix
}

// index returns the load-time index, or builds one for a Profile that did
// not come from Parse (slower, but correct).
func (p *Profile) index() *index {
	if p.ix != nil {
		return p.ix
	}
	return buildIndex(p)
}

func rejected(format string, args ...any) error {
	return caerr.New(caerr.RejectedIdentifier, format, args...)
}

// CheckDNSName reports whether the DNS identifier name may appear in a
// certificate of p. It returns a caerr.RejectedIdentifier error saying why
// not. Matching ignores ASCII case. A pattern "*.x.y" covers names with
// exactly one more label ("a.x.y"; not "a.b.x.y", not "x.y"), as wildcard
// certificates do (RFC 6125 §6.4.3). A requested wildcard "*.x.y" (RFC 8555
// §7.1.3) is allowed only if AllowWildcard is set and p has the pattern
// "*.x.y".
func (p *Profile) CheckDNSName(name string) error {
	if reason := hostnameProblem(name); reason != "" {
		return rejected("DNS name %q is not valid: %s", name, reason)
	}
	ix := p.index()
	lower := strings.ToLower(name) // no allocation when already lowercase
	if base, ok := strings.CutPrefix(lower, "*."); ok {
		if !p.AllowWildcard {
			return rejected("DNS name %q: profile %s does not issue wildcard names", name, p.Name)
		}
		if _, ok := ix.wildBases[base]; ok {
			return nil
		}
		return p.notAllowed(name, ix)
	}
	if _, ok := ix.exact[lower]; ok {
		return nil
	}
	if i := strings.IndexByte(lower, '.'); i >= 0 {
		if _, ok := ix.wildBases[lower[i+1:]]; ok {
			return nil
		}
	}
	return p.notAllowed(name, ix)
}

func (p *Profile) notAllowed(name string, ix *index) error {
	if len(p.DNSPatterns) == 0 {
		return rejected("DNS name %q: profile %s allows no DNS names", name, p.Name)
	}
	hint := ""
	lower := strings.ToLower(name)
	for base := range ix.wildBases {
		if strings.HasSuffix(lower, "."+base) || lower == base {
			hint = "; a \"*.\" pattern covers exactly one label in its place"
			break
		}
	}
	return rejected("DNS name %q is outside profile %s (allowed: %s)%s", name, p.Name, ix.names, hint)
}

// CheckIP reports whether the IP identifier ip may appear in a certificate
// of p: it must lie inside one of IPPrefixes. An IPv4-mapped IPv6 address
// is checked as the IPv4 address. It returns a caerr.RejectedIdentifier
// error saying why not.
func (p *Profile) CheckIP(ip netip.Addr) error {
	if !ip.IsValid() {
		return rejected("IP address is empty or invalid")
	}
	if ip.Zone() != "" {
		return rejected("IP address %s has a zone; certificates carry addresses without one", ip)
	}
	ip = ip.Unmap()
	for _, pfx := range p.IPPrefixes {
		if pfx.Contains(ip) {
			return nil
		}
	}
	if len(p.IPPrefixes) == 0 {
		return rejected("IP address %s: profile %s allows no IP addresses", ip, p.Name)
	}
	return rejected("IP address %s is outside profile %s (allowed: %s)", ip, p.Name, p.index().ips)
}

// maxCommonName is ub-common-name (RFC 5280 Appendix A.1).
const maxCommonName = 64

// CheckSubject reports whether cn may be the subject commonName of a
// certificate of p: p must have a SubjectPattern (code signing profiles do)
// and cn must match it (path.Match; case-sensitive). It returns a
// caerr.RejectedIdentifier error saying why not.
func (p *Profile) CheckSubject(cn string) error {
	if p.SubjectPattern == "" {
		return rejected("subject %q: profile %s does not issue certificates for chosen subject names", cn, p.Name)
	}
	switch {
	case cn == "":
		return rejected("subject commonName is empty; profile %s needs one matching %q", p.Name, p.SubjectPattern)
	case !utf8.ValidString(cn) || strings.ContainsFunc(cn, unicode.IsControl):
		return rejected("subject commonName %q contains invalid UTF-8 or control characters", cn)
	case utf8.RuneCountInString(cn) > maxCommonName:
		return rejected("subject commonName is longer than %d characters (RFC 5280 ub-common-name)", maxCommonName)
	}
	ok, err := path.Match(p.SubjectPattern, cn) // the pattern was checked at load
	if err != nil || !ok {
		return rejected("subject commonName %q does not match %q of profile %s", cn, p.SubjectPattern, p.Name)
	}
	return nil
}

// CheckURI reports whether u may be a URI SAN of a certificate of p: it
// must be one of p.URIs, exactly.
func (p *Profile) CheckURI(u string) error {
	if !slices.Contains(p.URIs, u) {
		if len(p.URIs) == 0 {
			return rejected("URI %q: profile %s issues no URI names", u, p.Name)
		}
		return rejected("URI %q is not one profile %s issues (allowed: %s)", u, p.Name, strings.Join(p.URIs, ", "))
	}
	return nil
}

// CheckKey reports whether pub is a key p accepts. It returns a
// caerr.BadPublicKey error that names the key and what the profile allows,
// e.g. "RSA 1024-bit key: profile argus allows RSA 2048-4096 bits, ECDSA
// P-256/P-384".
func (p *Profile) CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return p.badKey("empty RSA key")
		}
		bits := k.N.BitLen()
		desc := strconv.Itoa(bits)
		for _, r := range p.Keys {
			if r.Type == KeyRSA && bits >= r.MinBits && bits <= r.MaxBits {
				// CA/B Forum BR 6.1.5 and 6.1.6: whole bytes, odd exponent >= 3.
				if bits%8 != 0 {
					return caerr.New(caerr.BadPublicKey, "RSA %d-bit key: the modulus length must be a multiple of 8 bits", bits)
				}
				if k.E < 3 || k.E%2 == 0 {
					return caerr.New(caerr.BadPublicKey, "RSA key with public exponent %d: the exponent must be odd and at least 3 (65537 is usual)", k.E)
				}
				return nil
			}
		}
		return p.badKey("RSA " + desc + "-bit key")
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil || k.Curve.Params() == nil {
			return p.badKey("ECDSA key without a curve")
		}
		curve := k.Curve.Params().Name
		for _, r := range p.Keys {
			if r.Type == KeyECDSA {
				for _, c := range r.Curves {
					if c == curve {
						return nil
					}
				}
			}
		}
		return p.badKey("ECDSA " + curve + " key")
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return p.badKey("malformed Ed25519 key")
		}
		for _, r := range p.Keys {
			if r.Type == KeyEd25519 {
				return nil
			}
		}
		return p.badKey("Ed25519 key")
	case nil:
		return p.badKey("no public key")
	default:
		return p.badKey(fmt.Sprintf("%T key", pub))
	}
}

func (p *Profile) badKey(what string) error {
	return caerr.New(caerr.BadPublicKey, "%s: profile %s allows %s", what, p.Name, p.index().keys)
}

// KeyUsageFor returns the key usage for a certificate of p with subject key
// pub: p.KeyUsage without the bits the key's algorithm must not carry.
// RSA keys (RFC 3279 §2.3.1) lose key_agreement; ECDSA keys (RFC 5480 §3)
// lose key_encipherment and data_encipherment; Ed25519 keys (RFC 8410 §5)
// keep only digital_signature and content_commitment, as do keys of any
// other type.
func (p *Profile) KeyUsageFor(pub crypto.PublicKey) x509.KeyUsage {
	switch pub.(type) {
	case *rsa.PublicKey:
		return usageFor(KeyRSA, p.KeyUsage)
	case *ecdsa.PublicKey:
		return usageFor(KeyECDSA, p.KeyUsage)
	default:
		return usageFor(KeyEd25519, p.KeyUsage)
	}
}

func usageFor(keyType string, ku x509.KeyUsage) x509.KeyUsage {
	const sign = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	switch keyType {
	case KeyRSA:
		return ku & (sign | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment)
	case KeyECDSA:
		return ku & (sign | x509.KeyUsageKeyAgreement)
	default:
		return ku & sign
	}
}

// hostnameProblem returns why name is not a valid DNS name for a
// certificate, or "" if it is. It accepts ASCII letters of either case,
// digits and hyphens in labels of 1 to 63 characters (RFC 1034 §3.5,
// RFC 1123 §2.1), at most 253 characters, no trailing dot, an optional
// leading "*." (the only place RFC 6125 §6.4.3 and RFC 8555 §7.1.3 allow
// a wildcard), and a last label that is not all digits (RFC 3696 §2: that
// would read as an IPv4 address).
func hostnameProblem(name string) string {
	if name == "" {
		return "it is empty"
	}
	host := name
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		if rest == "" {
			return "a wildcard needs a name after \"*.\""
		}
		host = rest
	}
	if len(name) > 253 {
		return "it is longer than 253 characters"
	}
	if host[len(host)-1] == '.' {
		return "it ends with a dot; write names without the root dot"
	}
	start, digits := 0, true
	for i := 0; i <= len(host); i++ {
		if i < len(host) && host[i] != '.' {
			b := host[i]
			switch {
			case b >= '0' && b <= '9':
			case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b == '-':
				digits = false
			case b == '*':
				return "a wildcard is allowed only as the whole leftmost label (\"*.example.internal\")"
			case b >= utf8.RuneSelf:
				return "it is not ASCII; use the xn-- (punycode) form"
			default:
				return fmt.Sprintf("it contains %q; labels hold only letters, digits and hyphens", b)
			}
			continue
		}
		label := host[start:i]
		switch {
		case label == "":
			return "it has an empty label"
		case len(label) > 63:
			return fmt.Sprintf("label %q is longer than 63 characters", label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("label %q starts or ends with a hyphen", label)
		}
		if i < len(host) {
			start, digits = i+1, true
		}
	}
	if digits {
		return "its last label is all digits; an IP address is an IP identifier, not a DNS name"
	}
	return ""
}
