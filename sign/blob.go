package sign

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
)

// SignBlob signs a file as `cosign sign-blob --bundle` does: a Sigstore
// bundle whose messageSignature holds the file's digest and the
// signature over the file. Returns the bundle (JSON).
func (s *Signer) SignBlob(ctx context.Context, file string) ([]byte, error) {
	if _, ok := s.Key.Public().(ed25519.PublicKey); ok {
		// A blob bundle's messageSignature carries a digest, which pure
		// Ed25519 does not sign.
		return nil, errors.New("blob bundles need an ECDSA or RSA key: Ed25519 signs no digest (use sign model, or --format cms)")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return s.bundle(ctx, &sgsign.PlainData{Data: data})
}
