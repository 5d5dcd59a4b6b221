package sign

import (
	"context"
	"os"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
)

// SignBlob signs a file as `cosign sign-blob --bundle` does: a Sigstore
// bundle whose messageSignature holds the file's digest and the
// signature over the file. Returns the bundle (JSON).
func (s *Signer) SignBlob(ctx context.Context, file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return s.bundle(ctx, &sgsign.PlainData{Data: data})
}
