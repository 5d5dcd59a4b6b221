package est

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// A client that authenticates with a certificate enrols for the names
// that certificate carries, not for any name of the profile: RFC 7030
// §3.3.2 authenticates the client, and the CA decides what it may have
// (§4.2.1: the server "MUST" check the client is authorized). So:
//   - a certificate of ours renews its own identity: every name of the
//     CSR is one of the certificate's, or one an operator granted to that
//     certificate (`vccpki est grant`);
//   - a bootstrap certificate enrols for the names its CA's configuration
//     derives from the device identity it carries;
//   - HTTP Basic credentials are bound to their profile, and the profile
//     bounds the names.
// The engine checks the profile's patterns in every case.

// checkNames refuses, with 403, a CSR that asks for a name the client's
// identity does not cover.
func (s *Server) checkNames(ctx context.Context, p *profile.Profile, id *identity, csr *x509.CertificateRequest) error {
	if id.method == profile.ESTAuthBasic {
		return nil
	}
	requested, err := ca.RequestedIdentifiers(csr, p)
	if err != nil {
		return fromEngine(s.log, err)
	}
	if p.SubjectPattern != "" && csr.Subject.CommonName != "" {
		// A signing profile's subject is not a name but is an identity.
		requested = append(requested, ca.Identifier{Type: "subject", Value: csr.Subject.CommonName})
	}
	allowed := id.names
	if id.method == profile.ESTAuthClientCert {
		if allowed, err = s.certNames(ctx, p, id); err != nil {
			return err
		}
	}
	var outside []string
	for _, r := range requested {
		if !slices.Contains(allowed, r) {
			outside = append(outside, r.Value)
		}
	}
	if len(outside) == 0 {
		return nil
	}
	if id.method == profile.ESTAuthBootstrapCert {
		return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(
			"the CSR asks for %s, outside what the bootstrap certificate %s may enrol for (%s); the server configuration's est.bootstrap names decide it",
			strings.Join(outside, ", "), id.subject, identifierList(allowed))}
	}
	return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(
		"the CSR asks for %s, which the TLS client certificate %s does not carry (it renews only its own names: %s); "+
			"to enrol for more, ask an operator to run: vccpki est grant --profile %s --serial %s --names %s",
		strings.Join(outside, ", "), id.serial, identifierList(allowed), p.Name, id.serial, strings.Join(outside, ","))}
}

// certNames are the names of the client certificate plus those granted to
// it for profile p.
func (s *Server) certNames(ctx context.Context, p *profile.Profile, id *identity) ([]ca.Identifier, error) {
	names, err := ca.CertificateIdentifiers(id.cert, p)
	if err != nil {
		return nil, fromEngine(s.log, err)
	}
	if p.SubjectPattern != "" && id.cert.Subject.CommonName != "" {
		names = append(names, ca.Identifier{Type: "subject", Value: id.cert.Subject.CommonName})
	}
	g, err := s.users.ESTGrant(ctx, p.Name, id.serial)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return names, nil
	case err != nil:
		return nil, fromEngine(s.log, err)
	}
	for _, n := range g.Names {
		names = append(names, GrantIdentifier(n))
	}
	return names, nil
}

// GrantIdentifier reads a granted name: an IP address, or else a DNS name.
func GrantIdentifier(name string) ca.Identifier {
	if a, err := netip.ParseAddr(name); err == nil {
		return ca.Identifier{Type: ca.IP, Value: a.Unmap().String()}
	}
	return ca.Identifier{Type: ca.DNS, Value: strings.ToLower(name)}
}

func identifierList(ids []ca.Identifier) string {
	if len(ids) == 0 {
		return "none"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Value
	}
	return strings.Join(out, ", ")
}

// Bootstrap device identities (BootstrapCA.Identity).
const (
	IdentityCN     = "cn"     // the subject commonName (the default)
	IdentitySerial = "serial" // the subject serialNumber attribute (OID 2.5.4.5), a device serial
)

// idPlaceholder stands for the device identity in BootstrapCA.Names.
const idPlaceholder = "{id}"

// deviceLabel: an identity must be one DNS label, so that substituting it
// into a pattern cannot add a dot, a wildcard or another domain.
var deviceLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// deviceNames returns the names a bootstrap certificate may enrol for.
func (b *bootstrapPool) deviceNames(leaf *x509.Certificate) ([]ca.Identifier, error) {
	raw, what := leaf.Subject.CommonName, "subject commonName"
	if b.identity == IdentitySerial {
		raw, what = leaf.Subject.SerialNumber, "subject serialNumber"
	}
	id := strings.ToLower(raw)
	if !deviceLabel.MatchString(id) {
		return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(
			"the bootstrap certificate's %s %q is not a device identity this server accepts (one DNS label: letters, digits, hyphens)", what, clip(raw))}
	}
	out := make([]ca.Identifier, len(b.names))
	for i, n := range b.names {
		out[i] = GrantIdentifier(strings.ReplaceAll(n, idPlaceholder, id))
	}
	return out, nil
}

// checkBootstrapNames validates the identity and name patterns of a
// bootstrap CA's configuration.
func checkBootstrapNames(b BootstrapCA) error {
	switch b.Identity {
	case "", IdentityCN, IdentitySerial:
	default:
		return fmt.Errorf("est: bootstrap CA %s: identity %q: use %s or %s", b.Name, b.Identity, IdentityCN, IdentitySerial)
	}
	for _, n := range b.Names {
		if strings.Count(n, idPlaceholder) != 1 {
			return fmt.Errorf("est: bootstrap CA %s: name %q must hold %s once, so that each device gets its own names", b.Name, n, idPlaceholder)
		}
	}
	return nil
}
