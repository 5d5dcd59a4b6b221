package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"io"
	"os"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
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
	var artifactAlg string
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
		artifact, artifactAlg = sum, map[crypto.Hash]string{crypto.SHA256: "sha256", crypto.SHA384: "sha384", crypto.SHA512: "sha512"}[h]
	}
	if err := checkSignature(b, artifact, artifactAlg); err != nil {
		return nil, err
	}
	return p.finish(ctx, chain, ts)
}

// checkSignature checks the bundle's signature with its leaf's key: over
// artifact (a digest named by alg) for a message signature, over the
// DSSE pre-authentication encoding of the payload otherwise.
// sigstore-go's Verifier.Verify would check the chain and time-stamp
// again (done by the callers, with failures told apart), and summarizes
// the leaf as a Fulcio certificate, refusing one without a SAN; so only
// its signature check is used here.
func checkSignature(b *bundle.Bundle, artifact []byte, alg string) error {
	sc, err := b.SignatureContent()
	if err != nil {
		return fail(Malformed, err, "the bundle's signature content")
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return fail(Malformed, err, "the bundle's verification material")
	}
	if artifact != nil {
		err = sgverify.VerifySignatureWithArtifactDigests(sc, vc, &root.BaseTrustedMaterial{}, []sgverify.ArtifactDigest{{Algorithm: alg, Digest: artifact}})
	} else {
		err = sgverify.VerifySignature(sc, vc, &root.BaseTrustedMaterial{})
	}
	if err != nil {
		return fail(BadSignature, err, "the signature does not verify")
	}
	return nil
}

// BundleSignature checks a bundle's signature against what the bundle
// itself says was signed (the message digest of a blob bundle, the DSSE
// payload of an envelope), with its leaf certificate's key; neither the
// chain nor the time-stamp nor an artifact are looked at. The signature
// registry uses it to refuse a forged entry.
func BundleSignature(bundleJSON []byte) error {
	b, err := loadBundle(bundleJSON)
	if err != nil {
		return err
	}
	var artifact []byte
	var alg string
	if ms := b.GetMessageSignature(); ms != nil {
		h, ok := hashNames[ms.GetMessageDigest().GetAlgorithm()]
		if !ok {
			return fail(Malformed, nil, "unsupported digest algorithm %s", ms.GetMessageDigest().GetAlgorithm())
		}
		artifact, alg = ms.GetMessageDigest().GetDigest(), map[crypto.Hash]string{crypto.SHA256: "sha256", crypto.SHA384: "sha384", crypto.SHA512: "sha512"}[h]
	}
	return checkSignature(b, artifact, alg)
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
