package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// stuckToken is a Source whose signer blocks until released, like an HSM
// that stopped answering, or fails when told to.
type stuckToken struct {
	key     crypto.Signer
	release chan struct{}
	fail    error
}

func (s *stuckToken) Create(context.Context, string, Type) (crypto.Signer, store.KeyRecord, error) {
	return s, store.KeyRecord{}, nil
}
func (s *stuckToken) Signer(context.Context, string) (crypto.Signer, error) { return s, nil }
func (s *stuckToken) Public() crypto.PublicKey                              { return s.key.Public() }
func (s *stuckToken) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	<-s.release
	if s.fail != nil {
		return nil, s.fail
	}
	return s.key.Sign(r, d, o)
}

func TestBoundedSigner(t *testing.T) {
	k, _ := Generate(ECDSAP256)
	tok := &stuckToken{key: k, release: make(chan struct{})}
	src := Bounded(tok, 1, 50*time.Millisecond)
	s, err := src.Signer(context.Background(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	sign := func() error { _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); return err }
	for _, tc := range []struct {
		name, want string
	}{
		{"the token does not answer", "no signature within"},
		{"the only slot is still held", "no free signing slot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sign()
			if !errors.Is(err, ErrSignerBusy) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrSignerBusy with %q", err, tc.want)
			}
		})
	}
	close(tok.release) // the token comes back: the slot is freed
	deadline := time.Now().Add(10 * time.Second)
	for err := sign(); err != nil; err = sign() {
		if time.Now().After(deadline) {
			t.Fatalf("still failing after the token answered: %v", err)
		}
	}
	tok.fail = errors.New("CKR_DEVICE_ERROR")
	if err := sign(); err == nil || !strings.Contains(err.Error(), "CKR_DEVICE_ERROR") {
		t.Errorf("a failing token: %v", err)
	}
}
