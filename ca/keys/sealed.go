package keys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KEKRecordID is the store.KeyRecord ID under which the KEK's derivation
// parameters are kept. The KEK itself is never stored.
const KEKRecordID = "kek"

// KDFAlgorithm is the store.KeyRecord Algorithm of the KEK parameters.
const KDFAlgorithm = "argon2id"

// KDFParams are the argon2id parameters (RFC 9106).
type KDFParams struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// DefaultKDF follows RFC 9106 §4's second recommended option (64 MiB, t=3).
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}

// ErrWrongPassphrase means the passphrase does not open this key store.
var ErrWrongPassphrase = errors.New("the key-encryption passphrase does not open this key store (wrong passphrase or file?)")

// kekRecord is what is stored about the KEK: how to derive it and a check
// value that tells a wrong passphrase from a damaged key.
type kekRecord struct {
	KDFParams
	Salt  []byte `json:"salt"`
	Check []byte `json:"check"` // Seal("kek-check", checkPlaintext)
}

var checkPlaintext = []byte("vccpki key store check")

// KEK is a key-encryption key. Its zero value is unusable.
type KEK struct {
	aead cipher.AEAD
}

// NewKEK derives a KEK from a new random salt and returns the parameters to
// store (JSON) beside it.
func NewKEK(passphrase []byte, p KDFParams) (*KEK, []byte, error) {
	if len(passphrase) < 12 {
		return nil, nil, errors.New("the key-encryption passphrase must be at least 12 bytes")
	}
	rec := kekRecord{KDFParams: p, Salt: make([]byte, 16)}
	if _, err := rand.Read(rec.Salt); err != nil {
		return nil, nil, err
	}
	k, err := derive(passphrase, rec)
	if err != nil {
		return nil, nil, err
	}
	if rec.Check, err = k.seal("kek-check", checkPlaintext); err != nil {
		return nil, nil, err
	}
	params, err := json.Marshal(rec)
	return k, params, err
}

// OpenKEK derives the KEK from the stored parameters and checks it.
func OpenKEK(passphrase, params []byte) (*KEK, error) {
	var rec kekRecord
	if err := json.Unmarshal(params, &rec); err != nil {
		return nil, fmt.Errorf("key store parameters are damaged: %w", err)
	}
	k, err := derive(passphrase, rec)
	if err != nil {
		return nil, err
	}
	got, err := k.open("kek-check", rec.Check)
	if err != nil || subtle.ConstantTimeCompare(got, checkPlaintext) != 1 {
		return nil, ErrWrongPassphrase
	}
	return k, nil
}

func derive(passphrase []byte, rec kekRecord) (*KEK, error) {
	if rec.Time == 0 || rec.MemoryKiB < 8 || rec.Threads == 0 || len(rec.Salt) < 16 {
		return nil, errors.New("key store parameters are damaged: bad argon2id parameters")
	}
	key := argon2.IDKey(passphrase, rec.Salt, rec.Time, rec.MemoryKiB, rec.Threads, 32)
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &KEK{aead: aead}, nil
}

// sealVersion prefixes every sealed blob so the format can change.
const sealVersion = 1

// seal encrypts plaintext; id is bound as additional data so that a sealed
// key cannot be swapped for another key's record.
func (k *KEK) seal(id string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte(id)), nil
}

func (k *KEK) open(id string, blob []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(blob) < 1+n+k.aead.Overhead() || blob[0] != sealVersion {
		return nil, fmt.Errorf("sealed key %q: unknown format", id)
	}
	pt, err := k.aead.Open(nil, blob[1:1+n], blob[1+n:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("sealed key %q does not decrypt: damaged, or sealed under another passphrase", id)
	}
	return pt, nil
}

// Seal returns signer's private key as PKCS#8, encrypted under the KEK and
// bound to id.
func (k *KEK) Seal(id string, signer crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	return k.seal(id, der)
}

// Open decrypts a key sealed under id.
func (k *KEK) Open(id string, blob []byte) (crypto.Signer, error) {
	der, err := k.open(id, blob)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("sealed key %q: %w", id, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("sealed key %q is not a signing key", id)
	}
	return s, nil
}
