//go:build cgo

// Package pkcs11 keeps vccpki's signing keys in a PKCS#11 token (an HSM,
// or SoftHSM2 in tests). Keys are generated inside the token as sensitive
// and non-extractable, found again by label on start, and used only
// through crypto.Signer; nothing of them ever leaves the token.
package pkcs11

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/elliptic"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// Config selects the token. Exactly one of TokenLabel and Slot is set.
type Config struct {
	Module     string // path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
	TokenLabel string
	Slot       *int
	PIN        string // the user PIN; read from a file or the environment by the caller, never logged
	// MaxSessions is the size of the session pool; concurrent signatures
	// each take a session, so they do not serialise on one (default 16).
	MaxSessions int
	// SessionWait bounds how long a signature waits for a free session
	// (default 5s).
	SessionWait time.Duration
}

// Token is a keys.Source whose keys live in a PKCS#11 token. It is safe
// for concurrent use.
type Token struct {
	ctx   *crypto11.Context
	label string // for messages

	mu    sync.Mutex
	cache map[string]crypto.Signer

	secretMu   sync.Mutex
	secretAead cipher.AEAD // the secret-sealing key, once found (secret.go)
}

var _ keys.Source = (*Token)(nil)

// Available reports whether this build can use PKCS#11 (it needs cgo).
const Available = true

// Open loads the module, finds the token and logs in. Every failure says
// which of these went wrong, without the PIN.
func Open(cfg Config) (*Token, error) {
	if cfg.Module == "" {
		return nil, errors.New("pkcs11: no module path (keys.pkcs11.module)")
	}
	if _, err := os.Stat(cfg.Module); err != nil {
		return nil, fmt.Errorf("pkcs11: module %s: %w (for SoftHSM2: apt-get install -y softhsm2)", cfg.Module, err)
	}
	if (cfg.TokenLabel == "") == (cfg.Slot == nil) {
		return nil, errors.New("pkcs11: name the token by exactly one of token_label and slot")
	}
	if cfg.PIN == "" {
		return nil, errors.New("pkcs11: no PIN (keys.pkcs11.pin_file or keys.pkcs11.pin_env)")
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 16
	}
	if cfg.MaxSessions < 2 {
		cfg.MaxSessions = 2 // crypto11 keeps one for the login
	}
	if cfg.SessionWait == 0 {
		cfg.SessionWait = 5 * time.Second
	}
	which := "token " + quote(cfg.TokenLabel)
	if cfg.Slot != nil {
		which = fmt.Sprintf("slot %d", *cfg.Slot)
	}
	c, err := crypto11.Configure(&crypto11.Config{
		Path: cfg.Module, TokenLabel: cfg.TokenLabel, SlotNumber: cfg.Slot, Pin: cfg.PIN,
		MaxSessions: cfg.MaxSessions, PoolWaitTimeout: cfg.SessionWait,
	})
	if err != nil {
		return nil, explain(err, cfg.Module, which)
	}
	return &Token{ctx: c, label: which, cache: map[string]crypto.Signer{}}, nil
}

func quote(s string) string { return `"` + s + `"` }

// explain turns crypto11's and the module's errors into what an operator
// can act on.
func explain(err error, module, which string) error {
	var code p11.Error
	switch {
	case errors.As(err, &code) && (code == p11.CKR_PIN_INCORRECT || code == p11.CKR_PIN_INVALID || code == p11.CKR_PIN_LEN_RANGE):
		return fmt.Errorf("pkcs11: login to %s failed: wrong PIN (%v)", which, code)
	case errors.As(err, &code) && code == p11.CKR_PIN_LOCKED:
		return fmt.Errorf("pkcs11: the user PIN of %s is locked: unlock it with the SO PIN first", which)
	case strings.Contains(err.Error(), "could not find PKCS#11 token"):
		return fmt.Errorf("pkcs11: no %s in module %s: is the token present and initialised? (softhsm2-util --show-slots, pkcs11-tool --module %s -L)", which, module, module)
	case strings.Contains(err.Error(), "failed to create module context"):
		return fmt.Errorf("pkcs11: cannot load module %s: %v", module, err)
	}
	return fmt.Errorf("pkcs11: opening %s in %s: %v", which, module, err)
}

// Close logs out and unloads the module when no other Token uses it.
func (t *Token) Close() error {
	t.mu.Lock()
	clear(t.cache)
	t.mu.Unlock()
	return t.ctx.Close()
}

// reference is what the store keeps about a token key: where to find it,
// nothing secret.
type reference struct {
	Backend string `json:"backend"`
	Label   string `json:"label"`
	ID      string `json:"id"` // CKA_ID, hex
}

// Create implements keys.Source: it generates the key pair inside the
// token, labelled id.
func (t *Token) Create(_ context.Context, id string, kt keys.Type) (crypto.Signer, store.KeyRecord, error) {
	ckaID := []byte(id)
	if found, err := t.ctx.FindKeyPairs(nil, []byte(id)); err == nil && len(found) > 0 {
		return nil, store.KeyRecord{}, fmt.Errorf("pkcs11: %s already holds a key labelled %q", t.label, id)
	}
	var s crypto.Signer
	var err error
	switch kt {
	case keys.ECDSAP256:
		s, err = t.ctx.GenerateECDSAKeyPairWithLabel(ckaID, []byte(id), elliptic.P256())
	case keys.ECDSAP384:
		s, err = t.ctx.GenerateECDSAKeyPairWithLabel(ckaID, []byte(id), elliptic.P384())
	case keys.RSA2048, keys.RSA3072, keys.RSA4096:
		bits := map[keys.Type]int{keys.RSA2048: 2048, keys.RSA3072: 3072, keys.RSA4096: 4096}[kt]
		s, err = t.ctx.GenerateRSAKeyPairWithLabel(ckaID, []byte(id), bits)
	default:
		return nil, store.KeyRecord{}, fmt.Errorf("pkcs11: key type %s is not supported in a token; use ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096", kt)
	}
	if err != nil {
		return nil, store.KeyRecord{}, fmt.Errorf("pkcs11: generating the %s key %q in %s: %w", kt, id, t.label, err)
	}
	ref, _ := json.Marshal(reference{Backend: "pkcs11", Label: id, ID: hex.EncodeToString(ckaID)})
	t.mu.Lock()
	t.cache[id] = s
	t.mu.Unlock()
	return s, store.KeyRecord{ID: id, Algorithm: string(kt), Sealed: ref}, nil
}

// Signer implements keys.Source: it finds the key labelled id.
func (t *Token) Signer(_ context.Context, id string) (crypto.Signer, error) {
	t.mu.Lock()
	s, ok := t.cache[id]
	t.mu.Unlock()
	if ok {
		return s, nil
	}
	found, err := t.ctx.FindKeyPairs(nil, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("pkcs11: looking for key %q in %s: %w", id, t.label, err)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("pkcs11: %s holds no key labelled %q: wrong token, or the key was deleted", t.label, id)
	}
	if len(found) > 1 {
		return nil, fmt.Errorf("pkcs11: %s holds %d keys labelled %q; vccpki needs exactly one", t.label, len(found), id)
	}
	t.mu.Lock()
	t.cache[id] = found[0]
	t.mu.Unlock()
	return found[0], nil
}

// Protection reports the token's own flags of the private key labelled
// id: CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE.
func (t *Token) Protection(id string) (sensitive, extractable, neverExtractable bool, err error) {
	k, err := t.ctx.FindPrivateKey(nil, []byte(id))
	if err != nil || k == nil {
		return false, false, false, fmt.Errorf("pkcs11: no private key %q: %v", id, err)
	}
	attrs, err := t.ctx.GetAttributes(k, []crypto11.AttributeType{p11.CKA_SENSITIVE, p11.CKA_EXTRACTABLE, p11.CKA_NEVER_EXTRACTABLE})
	if err != nil {
		return false, false, false, err
	}
	flag := func(a crypto11.AttributeType) bool {
		v := attrs[a]
		return v != nil && len(v.Value) == 1 && v.Value[0] == 1
	}
	return flag(p11.CKA_SENSITIVE), flag(p11.CKA_EXTRACTABLE), flag(p11.CKA_NEVER_EXTRACTABLE), nil
}
