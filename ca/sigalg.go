package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
)

// sigAlg is how one CA key signs structures the engine encodes itself
// (CRLs, OCSP responses): the AlgorithmIdentifier written into them and
// the digest signed. The choices are crypto/x509's, so that a CRL and a
// certificate from the same CA name the same algorithm.
type sigAlg struct {
	algID []byte      // DER AlgorithmIdentifier (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3)
	hash  crypto.Hash // 0 for Ed25519, which signs the message itself
}

var (
	algECDSASHA256 = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, crypto.SHA256}
	algECDSASHA384 = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}, crypto.SHA384}
	algECDSASHA512 = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}, crypto.SHA512}
	// sha256WithRSAEncryption carries NULL parameters (RFC 4055 §5).
	algRSASHA256 = sigAlg{[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}, crypto.SHA256}
	algEd25519   = sigAlg{[]byte{0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}, 0}
)

func sigAlgFor(pub crypto.PublicKey) (sigAlg, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return algECDSASHA256, nil
		case elliptic.P384():
			return algECDSASHA384, nil
		case elliptic.P521():
			return algECDSASHA512, nil
		}
	case *rsa.PublicKey:
		return algRSASHA256, nil
	case ed25519.PublicKey:
		return algEd25519, nil
	}
	return sigAlg{}, fmt.Errorf("no signature algorithm for a %T key", pub)
}

// sign signs the concatenation of parts. For the hashed algorithms the
// parts are only hashed, so a large CRL is never joined into one buffer.
func (a sigAlg) sign(key crypto.Signer, parts ...[]byte) ([]byte, error) {
	if a.hash == 0 {
		var msg []byte
		for _, p := range parts {
			msg = append(msg, p...)
		}
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	h := a.hash.New()
	for _, p := range parts {
		h.Write(p)
	}
	return key.Sign(rand.Reader, h.Sum(nil), a.hash)
}
