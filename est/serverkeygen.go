package est

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
)

var errNoIssuer = errors.New("the profile's issuing CA is missing from the hierarchy")

// ServerKeyGen is /serverkeygen (RFC 7030 §4.4). The server generates a
// key of the profile's first key type, makes a CSR for it with the
// subject and extensions of the client's CSR, and has the engine issue as
// for any other enrolment. The key goes back as an unencrypted PKCS#8
// part (RFC 7030 §4.4.2: allowed when the TLS session protects it); it is
// never written anywhere on the server and is dropped after the reply.
func (b *backend) ServerKeyGen(ctx context.Context, csr *x509.CertificateRequest, _ string, r *http.Request) (*x509.Certificate, []byte, error) {
	p, id := requestProfile(ctx), requestIdentity(ctx)
	if p.EST.ChannelBinding {
		if err := checkBinding(r.TLS, csr); err != nil {
			return nil, nil, err
		}
	}
	if err := b.s.checkNames(ctx, p, id, csr); err != nil {
		return nil, nil, err
	}
	key, err := generateKey(p)
	if err != nil {
		return nil, nil, fromEngine(b.s.log, err)
	}
	tmpl := &x509.CertificateRequest{RawSubject: csr.RawSubject, ExtraExtensions: csr.Extensions}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fromEngine(b.s.log, fmt.Errorf("serverkeygen: making the CSR: %w", err))
	}
	issued, err := b.s.engine.Issue(ctx, ca.IssueRequest{Profile: p.Name, CSR: der, Requester: id.requester()})
	if err != nil {
		return nil, nil, fromEngine(b.s.log, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fromEngine(b.s.log, err)
	}
	return issued.Certificate, pkcs8, nil
}

// generateKey makes a key of the profile's first accepted type: the
// first curve of an ECDSA rule, the smallest size of an RSA rule.
func generateKey(p *profile.Profile) (crypto.Signer, error) {
	if len(p.Keys) == 0 {
		return nil, fmt.Errorf("profile %s accepts no key type", p.Name)
	}
	k := p.Keys[0]
	switch k.Type {
	case profile.KeyECDSA:
		curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
		if len(k.Curves) == 0 || curves[k.Curves[0]] == nil {
			return nil, fmt.Errorf("profile %s: no usable curve", p.Name)
		}
		return ecdsa.GenerateKey(curves[k.Curves[0]], rand.Reader)
	case profile.KeyRSA:
		return rsa.GenerateKey(rand.Reader, max(k.MinBits, 2048))
	case profile.KeyEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("profile %s: key type %q cannot be generated", p.Name, k.Type)
}
