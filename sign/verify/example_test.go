package verify_test

import (
	"context"
	"fmt"
	"os"

	"github.com/vcc/vccpki/sign/verify"
)

// loadAdapter loads a LoRA adapter only if its OMS signature verifies
// against the VCC root and was made by a Clara signer.
func loadAdapter(ctx context.Context, dir, sigFile, rootPEM string) error {
	policy, err := verify.NewPolicy(rootPEM, "clara-*")
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(sigFile)
	if err != nil {
		return err
	}
	res, err := policy.VerifyModel(ctx, dir, sig)
	if err != nil {
		if k, ok := verify.KindOf(err); ok {
			return fmt.Errorf("adapter %s refused (%s): %w", dir, k, err)
		}
		return err
	}
	fmt.Printf("loading %s, signed by %s\n", res.ModelName, res.Signer.Subject.CommonName)
	return nil // the real service would now read the weights
}

func Example() {
	err := loadAdapter(context.Background(), "no-such-adapter", "no-such-adapter.sig", "no-such-root.pem")
	fmt.Println(err != nil)
	// Output: true
}
