package est

import (
	"context"
	"crypto/x509"
	"net/http"

	gsest "github.com/globalsign/est"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
)

// backend is the CA behind the globalsign router. Each method finds the
// profile and the identity that ServeHTTP put in the context; the label
// argument has already been resolved there.
type backend struct{ s *Server }

var _ gsest.CA = (*backend)(nil)

func requestProfile(ctx context.Context) *profile.Profile {
	p, _ := ctx.Value(profileKey{}).(*profile.Profile)
	return p
}

func requestIdentity(ctx context.Context) *identity {
	id, _ := ctx.Value(identityKey{}).(*identity)
	return id
}

// CACerts returns the issuing CA of the label's profile (during a
// rollover's overlap both generations, the current first: clients holding
// a certificate of either build its chain, and the link certificate of
// the new key signed by the old one: clients that hold only the old
// generation build a path to the new one's certificates), the CAs above
// it and the root: RFC 7030 §4.1.3 asks for the current root CA
// certificate and whatever a client needs to build the chain.
func (b *backend) CACerts(ctx context.Context, _ string, _ *http.Request) ([]*x509.Certificate, error) {
	p := requestProfile(ctx)
	certs := b.s.engine.CACertGenerations(p.Issuer)
	if len(certs) == 0 {
		return nil, fromEngine(b.s.log, errNoIssuer)
	}
	certs = append(certs, b.s.engine.CALinks(p.Issuer)...)
	certs = append(certs, b.s.engine.Chain(p.Issuer)...)
	return append(certs, b.s.engine.Root()), nil
}

// CSRAttrs returns the profile's attributes (RFC 7030 §4.5), built once
// by New.
func (b *backend) CSRAttrs(ctx context.Context, _ string, _ *http.Request) (gsest.CSRAttrs, error) {
	var a gsest.CSRAttrs
	if err := a.Unmarshal(b.s.attrs[requestProfile(ctx).Name]); err != nil {
		return a, fromEngine(b.s.log, err)
	}
	return a, nil
}

// Enroll is /simpleenroll (RFC 7030 §4.2.1).
func (b *backend) Enroll(ctx context.Context, csr *x509.CertificateRequest, _ string, r *http.Request) (*x509.Certificate, error) {
	if err := b.s.checkNames(ctx, requestProfile(ctx), requestIdentity(ctx), csr); err != nil {
		return nil, err
	}
	return b.issue(ctx, csr, r)
}

// Reenroll is /simplereenroll (RFC 7030 §4.2.2). The router has checked
// that the CSR's subject and subjectAltName equal those of the presented
// certificate; ServeHTTP that the certificate is ours, current, and of
// this profile.
func (b *backend) Reenroll(ctx context.Context, _ *x509.Certificate, csr *x509.CertificateRequest, _ string, r *http.Request) (*x509.Certificate, error) {
	return b.issue(ctx, csr, r)
}

func (b *backend) issue(ctx context.Context, csr *x509.CertificateRequest, r *http.Request) (*x509.Certificate, error) {
	p, id := requestProfile(ctx), requestIdentity(ctx)
	if p.EST.ChannelBinding {
		if err := checkBinding(r.TLS, csr); err != nil {
			return nil, err
		}
	}
	issued, err := b.s.engine.Issue(ctx, ca.IssueRequest{Profile: p.Name, CSR: csr.Raw, Requester: id.requester()})
	if err != nil {
		return nil, fromEngine(b.s.log, err)
	}
	return issued.Certificate, nil
}

// TPMEnroll is globalsign's extension; ServeHTTP refuses it before it
// gets here.
func (b *backend) TPMEnroll(context.Context, *x509.CertificateRequest, []*x509.Certificate, []byte, []byte, string, *http.Request) ([]byte, []byte, []byte, error) {
	return nil, nil, nil, &Error{Status: http.StatusNotImplemented, Message: "tpmenroll is not offered by this server"}
}
