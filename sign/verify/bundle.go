package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// loadBundle parses a Sigstore bundle, allowing the certificate chain
// model_signing writes in bundle v0.3.
func loadBundle(data []byte) (*bundle.Bundle, error) {
	b := &bundle.Bundle{}
	bundle.AllowCertificateChain()(b)
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fail(Malformed, err, "the signature is not a valid Sigstore bundle")
	}
	return b, nil
}

var hashNames = map[protocommon.HashAlgorithm]crypto.Hash{
	protocommon.HashAlgorithm_SHA2_256: crypto.SHA256,
	protocommon.HashAlgorithm_SHA2_384: crypto.SHA384,
	protocommon.HashAlgorithm_SHA2_512: crypto.SHA512,
}

// verifyBundle checks a bundle's signer, time-stamp and signature (and,
// for a message signature, the file's digest), then revocation.
func (p *Policy) verifyBundle(ctx context.Context, b *bundle.Bundle, file string) (*Result, error) {
	vm := b.GetVerificationMaterial()
	var certs []*x509.Certificate
	var raws [][]byte
	if ch := vm.GetX509CertificateChain(); ch != nil {
		for _, c := range ch.Certificates {
			raws = append(raws, c.RawBytes)
		}
	} else if c := vm.GetCertificate(); c != nil {
		raws = append(raws, c.RawBytes)
	}
	for _, r := range raws {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return nil, fail(Malformed, err, "a certificate of the bundle is invalid")
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fail(Malformed, nil, "the bundle carries no signer certificate")
	}
	var sig []byte
	if ms := b.GetMessageSignature(); ms != nil {
		sig = ms.Signature
	} else if env := b.GetDsseEnvelope(); env != nil && len(env.Signatures) == 1 {
		sig = env.Signatures[0].Sig
	} else {
		return nil, fail(Malformed, nil, "the bundle holds no single signature")
	}
	tss := vm.GetTimestampVerificationData().GetRfc3161Timestamps()
	if len(tss) == 0 {
		return nil, fail(NoTimestamp, nil, "the signature has no RFC 3161 time-stamp, so the signer's validity at signing cannot be shown")
	}
	ts, err := p.checkTimestamp(tss[0].SignedTimestamp, true, sig)
	if err != nil {
		return nil, err
	}
	chain, err := p.checkSigner(certs[0], certs[1:], ts.time)
	if err != nil {
		return nil, err
	}
	var artifact []byte
	if ms := b.GetMessageSignature(); ms != nil {
		h, ok := hashNames[ms.GetMessageDigest().GetAlgorithm()]
		if !ok {
			return nil, fail(Malformed, nil, "unsupported digest algorithm %s", ms.GetMessageDigest().GetAlgorithm())
		}
		sum, err := digestFile(file, h)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(sum, ms.MessageDigest.Digest) {
			return nil, fail(ContentChanged, nil, "the file's digest %s differs from the signed one %s", digestHex(sum), digestHex(ms.MessageDigest.Digest))
		}
		artifact = sum
	}
	// sigstore-go's Verify summarizes the leaf as a Fulcio certificate
	// and refuses one without a SAN, which vccpki's code-signing
	// certificates (CN only) are; so, with the chain and time-stamp
	// checked above, the signature is checked here.
	_ = artifact // compared above
	if err := checkBundleSignature(b, chain[0]); err != nil {
		return nil, fail(BadSignature, err, "the signature does not verify")
	}
	return p.finish(ctx, chain, ts)
}

func digestFile(file string, h crypto.Hash) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := h.New()
	if _, err := io.Copy(w, f); err != nil {
		return nil, err
	}
	return w.Sum(nil), nil
}

// checkBundleSignature verifies the bundle's signature with the signer's
// key: over the message digest, or over the DSSE pre-authentication
// encoding.
func checkBundleSignature(b *bundle.Bundle, leaf *x509.Certificate) error {
	if ms := b.GetMessageSignature(); ms != nil {
		h := hashNames[ms.GetMessageDigest().GetAlgorithm()]
		return checkSig(leaf.PublicKey, h, ms.MessageDigest.Digest, nil, ms.Signature)
	}
	env := b.GetDsseEnvelope()
	pae := []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(env.PayloadType), env.PayloadType, len(env.Payload), env.Payload))
	h := crypto.SHA256
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P384() {
		h = crypto.SHA384
	}
	d := h.New()
	d.Write(pae)
	return checkSig(leaf.PublicKey, h, d.Sum(nil), pae, env.Signatures[0].Sig)
}

func checkSig(pub crypto.PublicKey, h crypto.Hash, digest, message, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature mismatch")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	case ed25519.PublicKey:
		if message == nil || !ed25519.Verify(k, message, sig) {
			return errors.New("Ed25519 signature mismatch")
		}
		return nil
	}
	return fmt.Errorf("unsupported key %T", pub)
}
