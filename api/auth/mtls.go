package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/vcc/vccpki/store"
)

// RoleURIPrefix starts the URI SANs of an Admin CA client certificate
// that name the roles it grants: urn:vccpki:role:pki_admin, ... The admin
// profile (configs/profiles/admin.yaml) issues exactly these URIs.
const RoleURIPrefix = "urn:vccpki:role:"

// OrgURIPrefix: an admin certificate with the URI SAN
// urn:vccpki:org:<org> belongs to that organisation, and its roles act
// only on it (Principal.Scope); without one it is the operator's.
const OrgURIPrefix = "urn:vccpki:org:"

// RoleURI is the URI SAN that grants role.
func RoleURI(role string) string { return RoleURIPrefix + role }

// CertStatus is what the CA knows of a client certificate's serial.
type CertStatus int

// Statuses of a client certificate.
const (
	CertGood    CertStatus = iota // issued by the Admin CA and not revoked
	CertRevoked                   // revoked
	CertUnknown                   // the CA has no record of it
)

// MTLSConfig configures the client-certificate authenticator.
type MTLSConfig struct {
	// AdminCA is the only CA whose client certificates are accepted.
	AdminCA *x509.Certificate
	// Others are the hierarchy's other CAs, so that a certificate of one
	// is refused by name (403) rather than as a stranger (401).
	Others []*x509.Certificate
	// Status tells whether the Admin CA issued serial and whether it is
	// revoked (the engine's record: the same answer OCSP gives).
	Status func(ctx context.Context, serial *big.Int) (CertStatus, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// MTLS authenticates TLS client certificates of the VCC Admin CA. The
// HTTPS listener requests (does not require) client certificates and
// leaves verification to the front end; see RequestClientCerts.
type MTLS struct {
	cfg   MTLSConfig
	roots *x509.CertPool
}

// NewMTLS checks the configuration.
func NewMTLS(cfg MTLSConfig) (*MTLS, error) {
	if cfg.AdminCA == nil || !cfg.AdminCA.IsCA {
		return nil, fmt.Errorf("mtls: the Admin CA certificate is missing (run vccpki ca add-admin-ca)")
	}
	if cfg.Status == nil {
		return nil, fmt.Errorf("mtls: a revocation status source is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	roots := x509.NewCertPool()
	roots.AddCert(cfg.AdminCA)
	return &MTLS{cfg: cfg, roots: roots}, nil
}

// Authenticate implements Authenticator.
func (m *MTLS) Authenticate(r *http.Request) (*Principal, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredentials
	}
	leaf := r.TLS.PeerCertificates[0]
	// The Admin CA is the anchor: its own chain above is not consulted,
	// so no certificate of another CA below the same root passes.
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:       m.roots,
		CurrentTime: m.cfg.Now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		for _, o := range m.cfg.Others {
			if leaf.CheckSignatureFrom(o) == nil {
				return nil, Forbidden(fmt.Sprintf("the client certificate is from the %s; the API accepts only client certificates of the %s", o.Subject.CommonName, m.cfg.AdminCA.Subject.CommonName))
			}
		}
		var inv x509.CertificateInvalidError
		if asInvalid(err, &inv) && inv.Reason == x509.Expired {
			return nil, Unauthorized(fmt.Sprintf("the client certificate (serial %x) is outside its validity %s to %s", leaf.SerialNumber, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339)))
		}
		if leaf.CheckSignatureFrom(m.cfg.AdminCA) == nil {
			return nil, Unauthorized(fmt.Sprintf("the client certificate of the %s is not valid for client authentication: %v", m.cfg.AdminCA.Subject.CommonName, err))
		}
		return nil, Unauthorized(fmt.Sprintf("the client certificate (issuer %q) does not chain to the %s", leaf.Issuer.String(), m.cfg.AdminCA.Subject.CommonName))
	}
	st, err := m.cfg.Status(r.Context(), leaf.SerialNumber)
	switch {
	case err != nil:
		return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "the revocation status of the client certificate cannot be read"}
	case st == CertRevoked:
		return nil, Unauthorized(fmt.Sprintf("the client certificate (serial %x) is revoked", leaf.SerialNumber))
	case st != CertGood:
		return nil, Unauthorized(fmt.Sprintf("the %s has no record of the client certificate (serial %x)", m.cfg.AdminCA.Subject.CommonName, leaf.SerialNumber))
	}
	var roles []string
	org := ""
	for _, u := range leaf.URIs {
		if role, ok := strings.CutPrefix(u.String(), RoleURIPrefix); ok && role != "" {
			roles = append(roles, role)
		}
		if o, ok := strings.CutPrefix(u.String(), OrgURIPrefix); ok {
			if !store.ValidOrgName(o) || (org != "" && org != o) {
				return nil, Unauthorized("the client certificate must name at most one well-formed organisation (" + OrgURIPrefix + "<org>)")
			}
			org = o
		}
	}
	return &Principal{
		Method:  MethodMTLS,
		Issuer:  m.cfg.AdminCA.Subject.String(),
		Subject: leaf.Subject.String(),
		Name:    leaf.Subject.CommonName,
		Serial:  fmt.Sprintf("%x", leaf.SerialNumber),
		Roles:   roles,
		Org:     org,
	}, nil
}

func asInvalid(err error, target *x509.CertificateInvalidError) bool {
	e, ok := err.(x509.CertificateInvalidError)
	if ok {
		*target = e
	}
	return ok
}

// ConfigureTLS makes the HTTPS listener ask for client certificates and
// name the Admin CA among the acceptable ones (see RequestClientCerts).
func (m *MTLS) ConfigureTLS(tc *tls.Config) { RequestClientCerts(tc, m.cfg.AdminCA) }

// RequestClientCerts makes tc request (never require) a client
// certificate, as EST does (est.FrontEnd.ConfigureTLS): verification is
// the front end's, so that a wrong certificate gets an answer rather
// than a failed handshake. cas are added to the acceptable CAs the server
// names (RFC 8446 §4.2.4), keeping those already there. Call it after
// every front end's ConfigureTLS, which may replace ClientCAs.
func RequestClientCerts(tc *tls.Config, cas ...*x509.Certificate) {
	if tc.ClientAuth == tls.NoClientCert {
		tc.ClientAuth = tls.RequestClientCert
	}
	pool := x509.NewCertPool()
	if tc.ClientCAs != nil {
		pool = tc.ClientCAs.Clone()
	}
	for _, c := range cas {
		pool.AddCert(c)
	}
	tc.ClientCAs = pool
}
