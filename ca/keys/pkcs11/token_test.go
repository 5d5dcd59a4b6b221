//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/pkcs11/softhsmtest"
)

func open(t *testing.T, tk softhsmtest.Token) *Token {
	t.Helper()
	tok, err := Open(Config{Module: tk.Module, TokenLabel: tk.Label, PIN: tk.PIN, MaxSessions: 4})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func verify(t *testing.T, pub crypto.PublicKey, digest, sig []byte) {
	t.Helper()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("public key %T", pub)
	}
}

// TestTokenKeys generates each key type in a SoftHSM2 token, signs, finds
// the key again after the token was closed, and checks with the token and
// with pkcs11-tool that the private key is sensitive and never extractable.
func TestTokenKeys(t *testing.T) {
	tk := softhsmtest.New(t, "keys-test")
	ctx := context.Background()
	digest := sha256.Sum256([]byte("to be signed"))
	tok := open(t, tk)
	created := map[string]crypto.PublicKey{}
	for _, kt := range []keys.Type{keys.ECDSAP256, keys.ECDSAP384, keys.RSA2048} {
		id := "test-" + string(kt)
		t.Run(string(kt), func(t *testing.T) {
			s, rec, err := tok.Create(ctx, id, kt)
			if err != nil {
				t.Fatal(err)
			}
			if rec.ID != id || rec.Algorithm != string(kt) || !strings.Contains(string(rec.Sealed), `"backend":"pkcs11"`) {
				t.Errorf("record %+v %s", rec, rec.Sealed)
			}
			if got, err := keys.TypeOf(s.Public()); err != nil || got != kt {
				t.Errorf("TypeOf = %s, %v", got, err)
			}
			sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, s.Public(), digest[:], sig)
			created[id] = s.Public()
			sens, extr, never, err := tok.Protection(id)
			if err != nil || !sens || extr || !never {
				t.Errorf("sensitive=%v extractable=%v never-extractable=%v err=%v", sens, extr, never, err)
			}
			if _, _, err := tok.Create(ctx, id, kt); err == nil {
				t.Error("a second key with the same label was created")
			}
		})
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted process finds every key by its label.
	again := open(t, tk)
	defer again.Close()
	for id, pub := range created {
		s, err := again.Signer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Errorf("%s: another key came back", id)
		}
		sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, pub, digest[:], sig)
	}

	// pkcs11-tool, the token's own view: every private key is sensitive
	// and was never extractable.
	out := tk.Tool(t, "--list-objects", "--type", "privkey")
	if n := strings.Count(out, "Private Key Object"); n != len(created) {
		t.Fatalf("pkcs11-tool lists %d private keys, want %d:\n%s", n, len(created), out)
	}
	if n := strings.Count(out, "Access:     sensitive, always sensitive, never extractable, local"); n != len(created) {
		t.Errorf("not every key is sensitive and never extractable:\n%s", out)
	}
	if strings.Contains(out, " extractable,") && !strings.Contains(out, "never extractable") {
		t.Errorf("an extractable key:\n%s", out)
	}
}

func TestTokenRefusals(t *testing.T) {
	tk := softhsmtest.New(t, "refusals")
	slot := 4711
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"wrong PIN", Config{Module: tk.Module, TokenLabel: tk.Label, PIN: "0000"}, "wrong PIN"},
		{"no such token", Config{Module: tk.Module, TokenLabel: "absent", PIN: tk.PIN}, `no token "absent" in module`},
		{"no such slot", Config{Module: tk.Module, Slot: &slot, PIN: tk.PIN}, "no slot 4711 in module"},
		{"no module", Config{Module: "/nonexistent/libp11.so", TokenLabel: tk.Label, PIN: tk.PIN}, "module /nonexistent/libp11.so"},
		{"label and slot", Config{Module: tk.Module, TokenLabel: tk.Label, Slot: &slot, PIN: tk.PIN}, "exactly one"},
		{"no PIN", Config{Module: tk.Module, TokenLabel: tk.Label}, "no PIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Open(tc.cfg)
			if err == nil {
				tok.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
			if tc.cfg.PIN != "" && strings.Contains(err.Error(), tc.cfg.PIN) {
				t.Errorf("the error shows the PIN: %v", err)
			}
		})
	}
	tok := open(t, tk)
	defer tok.Close()
	if _, _, err := tok.Create(context.Background(), "ed", keys.Ed25519); err == nil || !strings.Contains(err.Error(), "not supported in a token") {
		t.Errorf("ed25519: %v", err)
	}
	if _, err := tok.Signer(context.Background(), "never-made"); err == nil || !strings.Contains(err.Error(), `holds no key labelled "never-made"`) {
		t.Errorf("missing key: %v", err)
	}
}

// TestConcurrentSigning: goroutines sign at once through the session pool,
// behind the bounded wrapper the server uses.
func TestConcurrentSigning(t *testing.T) {
	tk := softhsmtest.New(t, "concurrent")
	tok := open(t, tk)
	defer tok.Close()
	src := keys.Bounded(tok, 4, 0)
	ctx := context.Background()
	if _, _, err := src.Create(ctx, "ca", keys.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	s, err := src.Signer(ctx, "ca")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				d := sha256.Sum256([]byte{byte(g), byte(i)})
				sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					errs <- err
					return
				}
				if !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), d[:], sig) {
					errs <- errBadSig
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

var errBadSig = &badSig{}

type badSig struct{}

func (*badSig) Error() string { return "a concurrent signature does not verify" }
