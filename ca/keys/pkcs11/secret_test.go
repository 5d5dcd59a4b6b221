//go:build cgo

package pkcs11

import (
	"bytes"
	"testing"

	"github.com/vcc/vccpki/ca/keys/pkcs11/softhsmtest"
)

// TestTokenSecrets: secrets are sealed with an AES key made inside the
// token on first use; they open under their own id only, and the same
// token opened again (a restart) still opens them.
func TestTokenSecrets(t *testing.T) {
	tk := softhsmtest.New(t, "secrets")
	ctx := t.Context()
	tok := open(t, tk)
	if _, err := tok.OpenSecret(ctx, "box", []byte{1, 2, 3}); err == nil {
		t.Fatal("opened a secret before the token had a sealing key")
	}
	secret := []byte("the private key of the secret box")
	sealed, err := tok.SealSecret(ctx, "box", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed form contains the secret")
	}
	// A restart: the module is let go (SoftHSM2 reads its configuration,
	// which each test points elsewhere, at initialisation) and opened again.
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	tok2 := open(t, tk)
	defer tok2.Close()
	for _, tc := range []struct {
		name    string
		id      string
		sealed  []byte
		wantErr bool
	}{
		{"same id after reopening", "box", sealed, false},
		{"another id", "other", sealed, true},
		{"damaged", "box", append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1), true},
		{"truncated", "box", sealed[:5], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tok2.OpenSecret(ctx, tc.id, tc.sealed)
			if (err != nil) != tc.wantErr || (err == nil && !bytes.Equal(got, secret)) {
				t.Errorf("OpenSecret = %q, %v", got, err)
			}
		})
	}
}
