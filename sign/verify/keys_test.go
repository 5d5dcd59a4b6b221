package verify_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/pkcs11"
	"github.com/vcc/vccpki/ca/keys/pkcs11/softhsmtest"
	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/sign/verify"
)

// pemKeyFile writes a PKCS#8 PEM key and returns its path.
func pemKeyFile(t *testing.T, k crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeyTypes signs a model, a blob bundle and a CMS signature with
// every key the signing profiles accept, from a file or a PKCS#11 token
// (SoftHSM2), and verifies them.
func TestKeyTypes(t *testing.T) {
	p := newPKI(t)
	ctx := context.Background()
	tk := softhsmtest.New(t, "signer")
	tok, err := pkcs11.Open(pkcs11.Config{Module: tk.Module, TokenLabel: tk.Label, PIN: tk.PIN})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tok.Create(ctx, "clara-dev", keys.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	tok.Close()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	r3072, _ := rsa.GenerateKey(rand.Reader, 3072)
	cases := []struct{ name, spec string }{
		{"ECDSA P-256 file", pemKeyFile(t, p256)},
		{"ECDSA P-384 file", pemKeyFile(t, p384)},
		{"RSA 3072 file", pemKeyFile(t, r3072)},
		{"ECDSA P-256 in a PKCS#11 token", "pkcs11:token=signer;object=clara-dev?module-path=" + tk.Module + "&pin-value=" + tk.PIN},
	}
	policy := &verify.Policy{Roots: []*x509.Certificate{p.engine.Root()}, Identity: "clara-*"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := sign.LoadKey(ctx, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			s := p.signerWithKey(t, p.engine, "clara-signing", "clara-keys", "/tsa", k)
			dir := writeModel(t)
			file := filepath.Join(dir, "config.json")
			model, err := s.SignModel(ctx, dir, sign.ManifestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := policy.VerifyModel(ctx, dir, model); err != nil {
				t.Fatalf("model: %v", err)
			}
			blob, err := s.SignBlob(ctx, file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := policy.VerifyFile(ctx, file, blob); err != nil {
				t.Fatalf("blob: %v", err)
			}
			cms, err := s.SignCMS(ctx, file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := policy.VerifyFile(ctx, file, cms); err != nil {
				t.Fatalf("cms: %v", err)
			}
		})
	}
}
