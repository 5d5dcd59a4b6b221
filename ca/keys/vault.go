package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"io"
	"math/big"
	"runtime"
	"sync"

	"github.com/vcc/vccpki/store"
)

// ErrSealed means the key store is sealed: a signature was asked for
// before `vccpki unseal` or after `vccpki seal`.
var ErrSealed = errors.New("the CA key store is sealed: unseal it with vccpki unseal")

// Vault is a software key Source that can be sealed and unsealed while
// the process runs. The signers it hands out are handles: each signature
// looks the key up, so after Seal every handle fails with ErrSealed and
// no private key stays reachable through them.
type Vault struct {
	store KeyLoader
	mu    sync.RWMutex
	soft  *Software // nil while sealed
}

var _ Source = (*Vault)(nil)

// NewVault returns a sealed Vault over the store's sealed keys.
func NewVault(st KeyLoader) *Vault { return &Vault{store: st} }

// Unseal opens the Vault with the KEK.
func (v *Vault) Unseal(kek *KEK) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.soft != nil {
		v.soft.wipe()
	}
	v.soft = NewSoftware(kek, v.store)
}

// Sealed reports whether the Vault is sealed.
func (v *Vault) Sealed() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.soft == nil
}

// Seal drops the KEK and every opened key, zeroing what Go lets us zero:
// the private scalars of ECDSA and RSA keys and Ed25519 seeds. The AES key
// schedule inside the KEK's cipher cannot be reached from outside
// crypto/aes; it becomes garbage and is collected.
func (v *Vault) Seal() {
	v.mu.Lock()
	if v.soft != nil {
		v.soft.wipe()
		v.soft = nil
	}
	v.mu.Unlock()
	runtime.GC()
}

// Create implements Source.
func (v *Vault) Create(ctx context.Context, id string, t Type) (crypto.Signer, store.KeyRecord, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.soft == nil {
		return nil, store.KeyRecord{}, ErrSealed
	}
	k, rec, err := v.soft.Create(ctx, id, t)
	if err != nil {
		return nil, rec, err
	}
	return &vaultKey{v: v, id: id, pub: k.Public()}, rec, nil
}

// Signer implements Source. The key is opened now, so a wrong record
// fails here and not at the first signature.
func (v *Vault) Signer(ctx context.Context, id string) (crypto.Signer, error) {
	k, err := v.key(ctx, id)
	if err != nil {
		return nil, err
	}
	return &vaultKey{v: v, id: id, pub: k.Public()}, nil
}

func (v *Vault) key(ctx context.Context, id string) (crypto.Signer, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.soft == nil {
		return nil, ErrSealed
	}
	return v.soft.Signer(ctx, id)
}

type vaultKey struct {
	v   *Vault
	id  string
	pub crypto.PublicKey
}

func (k *vaultKey) Public() crypto.PublicKey { return k.pub }

func (k *vaultKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.v.mu.RLock()
	defer k.v.mu.RUnlock()
	if k.v.soft == nil {
		return nil, ErrSealed
	}
	s, err := k.v.soft.Signer(context.Background(), k.id)
	if err != nil {
		return nil, err
	}
	return s.Sign(r, digest, opts)
}

// wipe zeroes the cached keys and forgets the KEK.
func (s *Software) wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, k := range s.cache {
		wipeKey(k)
		delete(s.cache, id)
	}
	s.kek = nil
}

func wipeBig(n *big.Int) {
	if n != nil {
		clear(n.Bits())
		n.SetInt64(0)
	}
}

func wipeKey(k crypto.Signer) {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		// Best effort: crypto/ecdsa keeps its own copy of the scalar,
		// derived on first use, until the key is collected; zeroing D
		// still removes the copy this store made.
		//lint:ignore SA1019 D is read only to zero it
		wipeBig(k.D)
	case *rsa.PrivateKey:
		wipeBig(k.D)
		for _, p := range k.Primes {
			wipeBig(p)
		}
		wipeBig(k.Precomputed.Dp)
		wipeBig(k.Precomputed.Dq)
		wipeBig(k.Precomputed.Qinv)
	case ed25519.PrivateKey:
		clear(k)
	}
}
