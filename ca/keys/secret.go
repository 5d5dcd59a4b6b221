package keys

import (
	"context"
	"fmt"
)

// SecretSealer protects a small secret at rest with the key store's own
// protection: the software store seals it under its KEK, a PKCS#11 token
// under an AES key that never leaves the token. The id is bound to the
// sealed bytes, so one secret's record cannot stand in for another's.
type SecretSealer interface {
	SealSecret(ctx context.Context, id string, plaintext []byte) ([]byte, error)
	OpenSecret(ctx context.Context, id string, sealed []byte) ([]byte, error)
}

// secretAAD keeps sealed secrets and sealed keys apart under one KEK.
func secretAAD(id string) string { return "secret:" + id }

// SealSecret implements SecretSealer.
func (s *Software) SealSecret(_ context.Context, id string, plaintext []byte) ([]byte, error) {
	if s.kek == nil {
		return nil, errNoKEK
	}
	return s.kek.seal(secretAAD(id), plaintext)
}

// OpenSecret implements SecretSealer.
func (s *Software) OpenSecret(_ context.Context, id string, sealed []byte) ([]byte, error) {
	if s.kek == nil {
		return nil, errNoKEK
	}
	return s.kek.open(secretAAD(id), sealed)
}

// SealSecret implements SecretSealer; it fails with ErrSealed while sealed.
func (v *Vault) SealSecret(ctx context.Context, id string, plaintext []byte) ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.soft == nil {
		return nil, ErrSealed
	}
	return v.soft.SealSecret(ctx, id, plaintext)
}

// OpenSecret implements SecretSealer; it fails with ErrSealed while sealed.
func (v *Vault) OpenSecret(ctx context.Context, id string, sealed []byte) ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.soft == nil {
		return nil, ErrSealed
	}
	return v.soft.OpenSecret(ctx, id, sealed)
}

// SealSecret implements SecretSealer when the bounded source does.
func (b *bounded) SealSecret(ctx context.Context, id string, plaintext []byte) ([]byte, error) {
	ss, ok := b.src.(SecretSealer)
	if !ok {
		return nil, fmt.Errorf("the key store %T cannot seal secrets", b.src)
	}
	return ss.SealSecret(ctx, id, plaintext)
}

// OpenSecret implements SecretSealer when the bounded source does.
func (b *bounded) OpenSecret(ctx context.Context, id string, sealed []byte) ([]byte, error) {
	ss, ok := b.src.(SecretSealer)
	if !ok {
		return nil, fmt.Errorf("the key store %T cannot open secrets", b.src)
	}
	return ss.OpenSecret(ctx, id, sealed)
}
