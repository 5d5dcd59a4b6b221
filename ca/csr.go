package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/profile"
)

// MaxCSRSize bounds a CSR. Real ones are under 2 KiB; 64 KiB leaves room
// for RSA-8192 and many names, as globalsign/est's body limit does.
const MaxCSRSize = 64 << 10

// IdentifierType is the kind of an identifier.
type IdentifierType string

// Identifier types (RFC 8555 §9.7.7 "dns", RFC 8738 "ip").
const (
	DNS IdentifierType = "dns"
	IP  IdentifierType = "ip"
)

// Identifier is a name a certificate may carry.
type Identifier struct {
	Type  IdentifierType
	Value string // lowercase DNS name, or the canonical text of an address
}

func (id Identifier) String() string { return string(id.Type) + ":" + id.Value }

var (
	oidSAN              = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidSubjectKeyID     = asn1.ObjectIdentifier{2, 5, 29, 14}
)

// ParseCSR reads a PKCS#10 request in DER or PEM and verifies its
// self-signature (its proof of possession of the key).
func ParseCSR(raw []byte) (*CheckedCSR, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, caerr.New(caerr.Malformed, "the CSR is empty")
	}
	if len(raw) > MaxCSRSize {
		return nil, caerr.New(caerr.Malformed, "the CSR is %d bytes; the limit is %d", len(raw), MaxCSRSize)
	}
	der := raw
	if i := bytes.Index(raw, []byte("-----BEGIN")); i >= 0 {
		b, _ := pem.Decode(raw[i:])
		if b == nil {
			return nil, caerr.New(caerr.Malformed, "the CSR looks like PEM but does not decode")
		}
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			return nil, caerr.New(caerr.Malformed, "the PEM block is a %q, not a CERTIFICATE REQUEST", b.Type)
		}
		der = b.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, caerr.New(caerr.Malformed, "the CSR is not a DER or PEM PKCS#10 request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, caerr.New(caerr.BadCSR, "the CSR's signature does not verify with its own public key: %v", err)
	}
	return &CheckedCSR{CertificateRequest: csr, checked: true}, nil
}

// CheckedCSR is a request ParseCSR read and whose signature it verified.
// A front end that looks into the CSR before issuing (ACME compares its
// names with the order) hands it on in IssueRequest.Checked, and the
// engine does not parse and verify it a second time: an ECDSA
// verification per certificate. Only ParseCSR sets checked; a CheckedCSR
// made elsewhere is parsed again from its Raw bytes.
type CheckedCSR struct {
	*x509.CertificateRequest
	checked bool
}

// requestedIdentifiers collects every name the CSR asks for: DNS and IP
// SANs and a subject commonName. Email names are refused: no profile
// issues them; URI names only where the profile lists them (checkURIs).
func requestedIdentifiers(csr *x509.CertificateRequest, p *profile.Profile) ([]Identifier, error) {
	if len(csr.EmailAddresses) > 0 || (len(csr.URIs) > 0 && len(p.URIs) == 0) {
		return nil, caerr.New(caerr.RejectedIdentifier, "profile %s issues no email or URI names", p.Name)
	}
	var ids []Identifier
	seen := map[Identifier]bool{}
	add := func(id Identifier) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, n := range csr.DNSNames {
		add(Identifier{DNS, strings.ToLower(n)})
	}
	for _, ip := range csr.IPAddresses {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return nil, caerr.New(caerr.BadCSR, "the CSR carries an IP address of %d bytes", len(ip))
		}
		add(Identifier{IP, a.Unmap().String()})
	}
	// A commonName in a TLS request is one more name (RFC 6125 clients may
	// still read it); for code signing it is the subject the pattern checks.
	if cn := csr.Subject.CommonName; cn != "" && p.SubjectPattern == "" {
		if a, err := netip.ParseAddr(cn); err == nil {
			add(Identifier{IP, a.Unmap().String()})
		} else {
			add(Identifier{DNS, strings.ToLower(cn)})
		}
	}
	return ids, nil
}

// checkCSRExtensions refuses any requested extension the profile does not
// allow. None is copied: the certificate's extensions come from the profile.
func checkCSRExtensions(csr *x509.CertificateRequest, p *profile.Profile) error {
	for _, ext := range csr.Extensions {
		switch {
		case ext.Id.Equal(oidSAN), ext.Id.Equal(oidSubjectKeyID):
			// Names are checked one by one; a requested key identifier is ignored.
		case ext.Id.Equal(oidKeyUsage):
			// The profile, not the CSR, decides the usages: clients change
			// their defaults (acme.sh did), and a request is never copied.
			var bits asn1.BitString
			if _, err := asn1.Unmarshal(ext.Value, &bits); err != nil {
				return caerr.New(caerr.BadCSR, "the CSR's key usage extension does not parse")
			}
		case ext.Id.Equal(oidExtKeyUsage):
			var oids []asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(ext.Value, &oids); err != nil {
				return caerr.New(caerr.BadCSR, "the CSR's extended key usage extension does not parse")
			}
		case ext.Id.Equal(oidBasicConstraints):
			var bc struct {
				IsCA bool `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(ext.Value, &bc); err != nil {
				return caerr.New(caerr.BadCSR, "the CSR's basic constraints extension does not parse")
			}
			if bc.IsCA {
				return caerr.New(caerr.BadCSR, "the CSR asks to be a CA; profile %s issues end-entity certificates only", p.Name)
			}
		default:
			return caerr.New(caerr.BadCSR, "the CSR requests extension %s, which profile %s does not allow", ext.Id, p.Name)
		}
	}
	return nil
}

func describeIDs(ids []Identifier) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return fmt.Sprint(s)
}
