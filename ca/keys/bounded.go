package keys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vcc/vccpki/store"
)

// ErrSignerBusy means a signature was not made in time: every signing slot
// was taken, or the key's device did not answer. The request that needed
// it fails; the process and requests that need no signature go on.
var ErrSignerBusy = errors.New("the signing key did not answer in time (the HSM is slow, busy or gone)")

// Bounded wraps src so that at most n signatures are in flight at once and
// each waits at most timeout for a slot and for the device. A token that
// hangs then costs n goroutines, not the server: later signatures fail
// fast with ErrSignerBusy, and nothing that needs no signature waits.
// A timeout of 0 means no time limit (only the bound on concurrency).
func Bounded(src Source, n int, timeout time.Duration) Source {
	return &bounded{src: src, slots: make(chan struct{}, n), timeout: timeout}
}

type bounded struct {
	src     Source
	slots   chan struct{}
	timeout time.Duration
}

func (b *bounded) Create(ctx context.Context, id string, t Type) (crypto.Signer, store.KeyRecord, error) {
	s, rec, err := b.src.Create(ctx, id, t)
	if err != nil {
		return nil, rec, err
	}
	return &boundedSigner{b: b, inner: s}, rec, nil
}

func (b *bounded) Signer(ctx context.Context, id string) (crypto.Signer, error) {
	s, err := b.src.Signer(ctx, id)
	if err != nil {
		return nil, err
	}
	return &boundedSigner{b: b, inner: s}, nil
}

// Unwrap returns the wrapped source.
func (b *bounded) Unwrap() Source { return b.src }

type boundedSigner struct {
	b     *bounded
	inner crypto.Signer
}

func (s *boundedSigner) Public() crypto.PublicKey { return s.inner.Public() }

type signResult struct {
	sig []byte
	err error
}

// Sign runs the inner signature holding a slot. With a timeout it runs on
// its own goroutine, so that the caller can give up waiting; that
// goroutine gives the slot back when the device returns. Without one the
// caller signs itself (no hand-off between goroutines: faster for a fast
// in-process token, but a hung device holds its caller).
func (s *boundedSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	var expired <-chan time.Time // nil: never
	if s.b.timeout > 0 {
		timer := time.NewTimer(s.b.timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case s.b.slots <- struct{}{}:
	case <-expired:
		return nil, fmt.Errorf("%w: no free signing slot within %v", ErrSignerBusy, s.b.timeout)
	}
	if expired == nil {
		defer func() { <-s.b.slots }()
		return s.inner.Sign(r, digest, opts)
	}
	done := make(chan signResult, 1)
	go func() {
		defer func() { <-s.b.slots }()
		sig, err := s.inner.Sign(r, digest, opts)
		done <- signResult{sig, err}
	}()
	select {
	case res := <-done:
		return res.sig, res.err
	case <-expired:
		return nil, fmt.Errorf("%w: no signature within %v", ErrSignerBusy, s.b.timeout)
	}
}
