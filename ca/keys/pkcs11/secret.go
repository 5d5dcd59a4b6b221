//go:build cgo

package pkcs11

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"github.com/ThalesGroup/crypto11"

	"github.com/vcc/vccpki/ca/keys"
)

var _ keys.SecretSealer = (*Token)(nil)

// secretKeyLabel names the token's AES-256 key that seals secrets
// (keys.SecretSealer). It is made on first use, sensitive and never
// extractable like the signing keys; encryption runs inside the token.
const secretKeyLabel = "vccpki-secret-sealing"

// sealedSecretVersion prefixes a sealed secret so the format can change.
const sealedSecretVersion = 1

// secretAEAD returns AES-GCM with the token's sealing key, made if absent.
func (t *Token) secretAEAD(create bool) (cipher.AEAD, error) {
	t.secretMu.Lock()
	defer t.secretMu.Unlock()
	if t.secretAead != nil {
		return t.secretAead, nil
	}
	found, err := t.ctx.FindKeys(nil, []byte(secretKeyLabel))
	if err != nil {
		return nil, fmt.Errorf("pkcs11: looking for the secret-sealing key in token %s: %w", t.label, err)
	}
	var k *crypto11.SecretKey
	switch {
	case len(found) > 0:
		k = found[0]
	case !create:
		return nil, fmt.Errorf("pkcs11: token %s has no secret-sealing key %q", t.label, secretKeyLabel)
	default:
		if k, err = t.ctx.GenerateSecretKeyWithLabel([]byte(secretKeyLabel), []byte(secretKeyLabel), 256, crypto11.CipherAES); err != nil {
			return nil, fmt.Errorf("pkcs11: generating the secret-sealing key in token %s: %w", t.label, err)
		}
	}
	if t.secretAead, err = k.NewGCM(); err != nil {
		return nil, fmt.Errorf("pkcs11: token %s: AES-GCM: %w", t.label, err)
	}
	return t.secretAead, nil
}

// SealSecret implements keys.SecretSealer: AES-256-GCM inside the token,
// with id as additional data.
func (t *Token) SealSecret(_ context.Context, id string, plaintext []byte) (out []byte, err error) {
	aead, err := t.secretAEAD(true)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	// crypto11's cipher.AEAD panics when the token fails (the interface
	// has no error); one failed seal must not take the process down.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("pkcs11: token %s: sealing a secret: %v", t.label, r)
		}
	}()
	out = append([]byte{sealedSecretVersion}, nonce...)
	return aead.Seal(out, nonce, plaintext, []byte("secret:"+id)), nil
}

// OpenSecret implements keys.SecretSealer.
func (t *Token) OpenSecret(_ context.Context, id string, sealed []byte) (out []byte, err error) {
	aead, err := t.secretAEAD(false)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealedSecretVersion {
		return nil, fmt.Errorf("sealed secret %q: unknown format", id)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("pkcs11: token %s: opening a secret: %v", t.label, r)
		}
	}()
	pt, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte("secret:"+id))
	if err != nil {
		return nil, fmt.Errorf("sealed secret %q does not decrypt with token %s's key: damaged, or from another token", id, t.label)
	}
	return pt, nil
}
