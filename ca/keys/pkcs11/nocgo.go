//go:build !cgo

package pkcs11

import (
	"context"
	"crypto"
	"errors"
	"time"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// Config selects the token (see the cgo build).
type Config struct {
	Module      string
	TokenLabel  string
	Slot        *int
	PIN         string
	MaxSessions int
	SessionWait time.Duration
}

// Available reports whether this build can use PKCS#11 (it needs cgo).
const Available = false

var errNoCgo = errors.New("pkcs11: this vccpki was built without cgo (CGO_ENABLED=0), so it cannot load a PKCS#11 module; rebuild with CGO_ENABLED=1")

// Token is unusable in a build without cgo.
type Token struct{}

var _ keys.Source = (*Token)(nil)

// Open always fails without cgo.
func Open(Config) (*Token, error) { return nil, errNoCgo }

// Close implements io.Closer.
func (*Token) Close() error { return nil }

// Create implements keys.Source.
func (*Token) Create(context.Context, string, keys.Type) (crypto.Signer, store.KeyRecord, error) {
	return nil, store.KeyRecord{}, errNoCgo
}

// Signer implements keys.Source.
func (*Token) Signer(context.Context, string) (crypto.Signer, error) { return nil, errNoCgo }

// Protection is unavailable without cgo.
func (*Token) Protection(string) (bool, bool, bool, error) { return false, false, false, errNoCgo }

// SealSecret implements keys.SecretSealer; without cgo it always fails.
func (*Token) SealSecret(context.Context, string, []byte) ([]byte, error) { return nil, errNoCgo }

// OpenSecret implements keys.SecretSealer; without cgo it always fails.
func (*Token) OpenSecret(context.Context, string, []byte) ([]byte, error) { return nil, errNoCgo }
