package acme

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// SecretBox keeps the ACME secrets the store holds (EAB MAC keys, the
// nonce MAC key) out of plain text: each is sealed with HPKE (RFC 9180:
// DHKEM(X25519), HKDF-SHA256, AES-256-GCM) to the box's public key, which
// any process with the store can use, so `vccpki eab create` seals without
// the CA's key store. The box's private key is itself sealed by the key
// store (keys.SecretSealer: the KEK, or an AES key in the PKCS#11 token),
// so only a server holding the key store open can read a secret.
//
// Close (at vccpki seal) zeroes the private key's bytes and drops them;
// Reopen (at unseal) reads them again through the key store.
type SecretBox struct {
	pub hpke.PublicKey
	mu  sync.RWMutex
	// priv is the private key's bytes, nil when the box can only seal
	// (no key store, or closed). The hpke.PrivateKey is built from them
	// for each Open, so that no copy outlives Close in a field.
	priv   []byte
	closed bool
}

// secretBoxName is the box's row among the ACME secrets.
const secretBoxName = "secret-box"

// sealedPrefix marks a sealed secret; a stored value without it is from
// before secrets were sealed.
var sealedPrefix = []byte("vccpki-hpke1:")

var (
	boxKEM  = hpke.DHKEM(ecdh.X25519())
	boxKDF  = hpke.HKDFSHA256()
	boxAEAD = hpke.AES256GCM()
)

type boxRecord struct {
	Public        []byte `json:"public"`
	SealedPrivate []byte `json:"sealed_private"`
}

// errNoSecretBox: a process without the key store met a store whose box
// was never made.
var errNoSecretBox = errors.New("the store has no ACME secret box yet: run vccpki init or start vccpki serve once, which make it")

// OpenSecretBox returns the store's secret box, making it first if the
// store has none and sealer is given. With a nil sealer the box can only
// seal (admin commands); with one it also opens.
func OpenSecretBox(ctx context.Context, st store.ACMEStore, sealer keys.SecretSealer) (*SecretBox, error) {
	var fresh []byte
	if sealer != nil {
		priv, err := boxKEM.GenerateKey()
		if err != nil {
			return nil, err
		}
		raw, err := priv.Bytes()
		if err != nil {
			return nil, err
		}
		sealed, err := sealer.SealSecret(ctx, secretBoxName, raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("sealing the ACME secret box: %w", err)
		}
		if fresh, err = json.Marshal(boxRecord{Public: priv.PublicKey().Bytes(), SealedPrivate: sealed}); err != nil {
			return nil, err
		}
	}
	// Stored unless another process stored its box first: all use one.
	stored, err := st.ACMESecret(ctx, secretBoxName, fresh)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSecretBox
	}
	if err != nil {
		return nil, fmt.Errorf("the ACME secret box: %w", err)
	}
	var rec boxRecord
	if err := json.Unmarshal(stored, &rec); err != nil {
		return nil, fmt.Errorf("the ACME secret box record: %w", err)
	}
	b := &SecretBox{}
	if b.pub, err = boxKEM.NewPublicKey(rec.Public); err != nil {
		return nil, fmt.Errorf("the ACME secret box's public key: %w", err)
	}
	if sealer == nil {
		return b, nil
	}
	if b.priv, err = openBoxKey(ctx, rec, sealer); err != nil {
		return nil, err
	}
	return b, nil
}

// openBoxKey unseals the box's private key bytes and checks that they
// belong to its public key.
func openBoxKey(ctx context.Context, rec boxRecord, sealer keys.SecretSealer) ([]byte, error) {
	raw, err := sealer.OpenSecret(ctx, secretBoxName, rec.SealedPrivate)
	if err != nil {
		return nil, fmt.Errorf("opening the ACME secret box: %w", err)
	}
	priv, err := boxKEM.NewPrivateKey(raw)
	if err != nil {
		clear(raw)
		return nil, fmt.Errorf("the ACME secret box's private key: %w", err)
	}
	if !bytes.Equal(priv.PublicKey().Bytes(), rec.Public) {
		clear(raw)
		return nil, errors.New("the ACME secret box's keys do not belong together")
	}
	return raw, nil
}

// Close zeroes the private key's bytes and drops them: until Reopen the
// box still seals but opens nothing. (What crypto/hpke derived from them
// inside an Open that already returned is garbage Go may not have
// collected yet; no field holds it.)
func (b *SecretBox) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.priv)
	b.priv, b.closed = nil, true
}

// Reopen reads the private key again through sealer (after an unseal).
func (b *SecretBox) Reopen(ctx context.Context, st store.ACMEStore, sealer keys.SecretSealer) error {
	stored, err := st.ACMESecret(ctx, secretBoxName, nil)
	if err != nil {
		return fmt.Errorf("the ACME secret box: %w", err)
	}
	var rec boxRecord
	if err := json.Unmarshal(stored, &rec); err != nil {
		return fmt.Errorf("the ACME secret box record: %w", err)
	}
	if !bytes.Equal(rec.Public, b.pub.Bytes()) {
		return errors.New("the ACME secret box in the store is not the one this box was opened from")
	}
	raw, err := openBoxKey(ctx, rec, sealer)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.priv)
	b.priv, b.closed = raw, false
	return nil
}

// ErrSecretBoxClosed: the box was closed (the server is sealed) and opens
// nothing until Reopen.
var ErrSecretBoxClosed = errors.New("the ACME secret box is closed: the server is sealed")

// info binds a sealed secret to its purpose and name.
func boxInfo(label string) []byte { return []byte("vccpki acme secret " + label) }

// Seal seals a secret named label.
func (b *SecretBox) Seal(label string, secret []byte) ([]byte, error) {
	ct, err := hpke.Seal(b.pub, boxKDF, boxAEAD, boxInfo(label), secret)
	if err != nil {
		return nil, err
	}
	return append(bytes.Clone(sealedPrefix), ct...), nil
}

// Open opens a secret named label. A value stored before secrets were
// sealed comes back as it is, with plain set.
func (b *SecretBox) Open(label string, stored []byte) (secret []byte, plain bool, err error) {
	ct, ok := bytes.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, true, nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, false, ErrSecretBoxClosed
	}
	if b.priv == nil {
		return nil, false, errors.New("this process cannot open ACME secrets")
	}
	priv, err := boxKEM.NewPrivateKey(b.priv)
	if err != nil {
		return nil, false, fmt.Errorf("the ACME secret box's private key: %w", err)
	}
	pt, err := hpke.Open(priv, boxKDF, boxAEAD, boxInfo(label), ct)
	if err != nil {
		return nil, false, fmt.Errorf("the sealed ACME secret %s does not open: damaged, or from another store", label)
	}
	return pt, false, nil
}
