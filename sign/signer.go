// Package sign signs and verifies artifacts in the field's formats: the
// OpenSSF Model Signing layout (a Sigstore bundle v0.3 holding a DSSE
// envelope with an in-toto statement) for models and directories,
// Sigstore blob bundles and CMS detached signatures (RFC 5652) for
// files, and SHA256SUMS manifests. Every signature carries an RFC 3161
// time-stamp. Verification is in sign/verify.
package sign

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// BundleMediaType is the media type of the bundles written here.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// Signer is a signing key with its certificate, the intermediates up to
// (not including) the root, and the time-stamping authority to ask.
type Signer struct {
	Key   crypto.Signer
	Cert  *x509.Certificate
	Chain []*x509.Certificate // intermediates; a root in it is dropped
	// TSA is the RFC 3161 time-stamping authority's URL. Required: a
	// signature without a time-stamp stops verifying when its
	// certificate expires.
	TSA    string
	Client *http.Client
	// Stamper, when set, time-stamps instead of the TSA URL (the server
	// signing in process uses an *EngineTimestamper).
	Stamper Stamper
}

// NewSigner checks that the key matches the certificate and keeps the
// chain's intermediates (the leaf, if repeated, and roots are dropped).
func NewSigner(key crypto.Signer, certs []*x509.Certificate, chain []*x509.Certificate, tsaURL string) (*Signer, error) {
	if len(certs) == 0 {
		return nil, errors.New("no signer certificate")
	}
	leaf := certs[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("the key does not match the certificate's public key")
	}
	if tsaURL == "" {
		return nil, errors.New("a time-stamping authority URL is needed (--tsa http://HOST/tsa)")
	}
	s := &Signer{Key: key, Cert: leaf, TSA: tsaURL}
	for _, c := range append(certs[1:], chain...) {
		if c.Equal(leaf) || isSelfSigned(c) {
			continue
		}
		s.Chain = append(s.Chain, c)
	}
	return s, nil
}

// GetCertificateChain implements sigstore-go's CertificateChainProvider:
// the bundle carries the leaf and intermediates in
// verificationMaterial.x509CertificateChain, as model_signing does for
// certificate signing.
func (s *Signer) GetCertificateChain(context.Context, sgsign.Keypair, *sgsign.CertificateProviderOptions) ([][]byte, error) {
	out := [][]byte{s.Cert.Raw}
	for _, c := range s.Chain {
		out = append(out, c.Raw)
	}
	return out, nil
}

func (s *Signer) timestamper() Stamper {
	if s.Stamper != nil {
		return s.Stamper
	}
	return &Timestamper{URL: s.TSA, Client: s.Client}
}

// bundle signs content with sigstore-go, then time-stamps the signature
// value and returns the bundle as JSON.
func (s *Signer) bundle(ctx context.Context, content sgsign.Content) ([]byte, error) {
	kp, err := newKeypair(s.Key)
	if err != nil {
		return nil, err
	}
	return s.bundleWith(ctx, content, kp)
}

// bundleWith is bundle with the keypair given.
func (s *Signer) bundleWith(ctx context.Context, content sgsign.Content, kp sgsign.Keypair) ([]byte, error) {
	b, _, err := s.bundleProto(ctx, content, kp)
	if err != nil {
		return nil, err
	}
	return protojson.Marshal(b)
}

// bundleProto signs content and time-stamps the signature value; it
// returns the bundle and the signature value.
func (s *Signer) bundleProto(ctx context.Context, content sgsign.Content, kp sgsign.Keypair) (*protobundle.Bundle, []byte, error) {
	b, err := sgsign.Bundle(content, kp, sgsign.BundleOptions{CertificateChainProvider: s, Context: ctx})
	if err != nil {
		return nil, nil, err
	}
	sig, err := signatureOf(b)
	if err != nil {
		return nil, nil, err
	}
	// The token asks for the TSA's certificate (certReq), which
	// sigstore-go's own TSA client does not, so that the root alone
	// verifies it; hence the time-stamp is added here.
	resp, _, err := s.timestamper().StampToken(ctx, sig)
	if err != nil {
		return nil, nil, err
	}
	b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
		Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: resp}},
	}
	return b, sig, nil
}

// signatureOf returns the signature value of a bundle.
func signatureOf(b *protobundle.Bundle) ([]byte, error) {
	if ms := b.GetMessageSignature(); ms != nil {
		return ms.Signature, nil
	}
	if env := b.GetDsseEnvelope(); env != nil && len(env.Signatures) == 1 {
		return env.Signatures[0].Sig, nil
	}
	return nil, fmt.Errorf("bundle holds no single signature")
}
