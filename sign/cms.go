package sign

import (
	"context"
	"encoding/asn1"
	"os"

	"github.com/digitorus/pkcs7"
)

// OIDTimeStampToken is id-aa-timeStampToken (RFC 3161 Appendix A): the
// unsigned SignerInfo attribute holding a time-stamp token over the
// SignerInfo's signature value.
var OIDTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

// SignCMS signs a file as a CMS (RFC 5652) detached SignedData, DER, with
// SHA-256, the signer's certificate and intermediates, and the RFC 3161
// token over the signature value as the unsigned signature-time-stamp
// attribute. `openssl cms -verify -binary -inform DER -content FILE`
// reads it.
func (s *Signer) SignCMS(ctx context.Context, file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		return nil, err
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(s.Cert, s.Key, s.Chain, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, err
	}
	si := &sd.GetSignedData().SignerInfos[0]
	_, token, err := s.timestamper().StampToken(ctx, si.EncryptedDigest)
	if err != nil {
		return nil, err
	}
	if err := si.SetUnauthenticatedAttributes([]pkcs7.Attribute{{Type: OIDTimeStampToken, Value: asn1.RawValue{FullBytes: token}}}); err != nil {
		return nil, err
	}
	sd.Detach()
	return sd.Finish()
}
