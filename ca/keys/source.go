package keys

import (
	"context"
	"crypto"
	"fmt"
	"sync"

	"github.com/vcc/vccpki/store"
)

// Source creates and finds the CA's signing keys. The software store below
// is one Source; a PKCS#11 token is another.
type Source interface {
	// Create generates a key of type t named id and returns it with the
	// record to persist (for a token, a reference; here, the sealed key).
	Create(ctx context.Context, id string, t Type) (crypto.Signer, store.KeyRecord, error)
	// Signer returns the key named id.
	Signer(ctx context.Context, id string) (crypto.Signer, error)
}

// KeyLoader is the part of store.Store a Software source reads.
type KeyLoader interface {
	Key(ctx context.Context, id string) (store.KeyRecord, error)
}

// Software is a Source whose keys are sealed under a KEK and kept in the
// store. Opened keys are cached in memory for the life of the process.
type Software struct {
	kek   *KEK
	store KeyLoader

	mu    sync.Mutex
	cache map[string]crypto.Signer
}

// NewSoftware returns a software key source. kek may be nil for processes
// that never sign (read-only admin commands): Signer then explains that the
// passphrase is needed.
func NewSoftware(kek *KEK, st KeyLoader) *Software {
	return &Software{kek: kek, store: st, cache: map[string]crypto.Signer{}}
}

var errNoKEK = fmt.Errorf("the CA keys are sealed: give the key-encryption passphrase (keys.passphrase_file or keys.passphrase_env in the configuration)")

// Create implements Source.
func (s *Software) Create(_ context.Context, id string, t Type) (crypto.Signer, store.KeyRecord, error) {
	if s.kek == nil {
		return nil, store.KeyRecord{}, errNoKEK
	}
	k, err := Generate(t)
	if err != nil {
		return nil, store.KeyRecord{}, err
	}
	sealed, err := s.kek.Seal(id, k)
	if err != nil {
		return nil, store.KeyRecord{}, err
	}
	s.mu.Lock()
	s.cache[id] = k
	s.mu.Unlock()
	return k, store.KeyRecord{ID: id, Algorithm: string(t), Sealed: sealed}, nil
}

// Signer implements Source.
func (s *Software) Signer(ctx context.Context, id string) (crypto.Signer, error) {
	s.mu.Lock()
	k, ok := s.cache[id]
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	if s.kek == nil {
		return nil, errNoKEK
	}
	rec, err := s.store.Key(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", id, err)
	}
	k, err = s.kek.Open(id, rec.Sealed)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cache[id] = k
	s.mu.Unlock()
	return k, nil
}
