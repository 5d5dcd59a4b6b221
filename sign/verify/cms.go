package verify

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"

	"github.com/digitorus/pkcs7"

	"github.com/vcc/vccpki/sign"
)

// verifyCMS checks a CMS detached signature (DER or PEM) over data, with
// its signature-time-stamp attribute.
func (p *Policy) verifyCMS(ctx context.Context, data, sig []byte) (*Result, error) {
	if b, _ := pem.Decode(sig); b != nil {
		sig = b.Bytes
	}
	p7, err := pkcs7.Parse(sig)
	if err != nil {
		return nil, fail(Malformed, err, "the signature is neither a Sigstore bundle nor a CMS SignedData")
	}
	if len(p7.Signers) != 1 {
		return nil, fail(Malformed, nil, "the CMS signature has %d signers; one is expected", len(p7.Signers))
	}
	si := p7.Signers[0]
	leaf := p7.GetOnlySigner()
	if leaf == nil {
		return nil, fail(Malformed, nil, "the CMS signature does not carry its signer's certificate")
	}
	var inter []*x509.Certificate
	for _, c := range p7.Certificates {
		if !c.Equal(leaf) {
			inter = append(inter, c)
		}
	}
	var token []byte
	for _, a := range si.UnauthenticatedAttributes {
		if a.Type.Equal(sign.OIDTimeStampToken) {
			token = a.Value.Bytes
		}
	}
	if token == nil {
		return nil, fail(NoTimestamp, nil, "the CMS signature has no signature-time-stamp attribute (id-aa-timeStampToken)")
	}
	ts, err := p.checkTimestamp(token, false, si.EncryptedDigest)
	if err != nil {
		return nil, err
	}
	chain, err := p.checkSigner(leaf, inter, ts.time)
	if err != nil {
		return nil, err
	}
	p7.Content = data
	pool := x509.NewCertPool()
	for _, c := range inter {
		pool.AddCert(c)
	}
	err = p7.VerifyWithOpts(x509.VerifyOptions{Roots: p.pool(), Intermediates: pool, CurrentTime: ts.time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
	var mm *pkcs7.MessageDigestMismatchError
	switch {
	case errors.As(err, &mm):
		return nil, fail(ContentChanged, nil, "the file's digest %s differs from the signed one %s", digestHex(mm.ActualDigest), digestHex(mm.ExpectedDigest))
	case err != nil:
		return nil, fail(BadSignature, err, "the CMS signature does not verify")
	}
	return p.finish(ctx, chain, ts)
}
