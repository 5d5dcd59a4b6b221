package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/pkcs11"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/store"
)

// pkcs11Config is the keys.pkcs11 section: which token holds the CA keys.
type pkcs11Config struct {
	Module     string `yaml:"module"`
	TokenLabel string `yaml:"token_label"`
	Slot       *int   `yaml:"slot"`
	// The user PIN comes from a file or the environment, never from a
	// flag or the configuration itself, and is never logged.
	PINFile     string `yaml:"pin_file"`
	PINEnv      string `yaml:"pin_env"`
	MaxSessions int    `yaml:"max_sessions"` // session pool size (default 16)
	MaxSigners  int    `yaml:"max_signers"`  // signatures in flight at once (default max_sessions)
	SignTimeout string `yaml:"sign_timeout"` // a signature waits at most this long (default 5s; "none": no limit)
}

const (
	backendSoftware = "software"
	backendPKCS11   = "pkcs11"
	// tokenRecordID is the key record naming the token of a PKCS#11
	// hierarchy (module, label or slot; no PIN), so that serve finds the
	// token vccpki init --pkcs11 used.
	tokenRecordID  = "pkcs11-token"
	defaultPINEnv  = "VCCPKI_PKCS11_PIN"
	defaultSignDur = 5 * time.Second
)

func (k *keysConfig) resolve(rel func(string) string) error {
	// Empty: whatever the data directory was created with (software for
	// a new one).
	switch k.Backend {
	case "", backendSoftware, backendPKCS11:
	default:
		return fmt.Errorf("field keys.backend: %q is not software or pkcs11", k.Backend)
	}
	p := &k.PKCS11
	p.PINFile = rel(p.PINFile)
	if p.TokenLabel != "" && p.Slot != nil {
		return errors.New("field keys.pkcs11: give token_label or slot, not both")
	}
	switch p.SignTimeout {
	case "", "none":
	default:
		if _, err := parseDuration(p.SignTimeout); err != nil {
			return fmt.Errorf("field keys.pkcs11.sign_timeout: %w", err)
		}
	}
	if p.MaxSessions < 0 || p.MaxSigners < 0 {
		return errors.New("field keys.pkcs11: max_sessions and max_signers cannot be negative")
	}
	return nil
}

// tokenRecord is what the store keeps about the token.
type tokenRecord struct {
	Module     string `json:"module"`
	TokenLabel string `json:"token_label,omitempty"`
	Slot       *int   `json:"slot,omitempty"`
}

// keyBackend is the CA's key source for one process.
type keyBackend struct {
	src       keys.Source
	bootstrap bool              // the store holds no hierarchy yet
	extra     []store.KeyRecord // stored with a new hierarchy
	shares    []shamir.Share    // printed once by init --shares
	close     func()
}

// initKeys are vccpki init's choices for a new hierarchy.
type initKeys struct {
	shares, threshold int
}

// errSharesSealed explains why a command that signs cannot run on a key
// store sealed under shares.
var errSharesSealed = errors.New("the CA key store is unsealed with shares (vccpki init --shares): only the running server holds the unsealed keys; sign through it (ACME, EST, TSA), or unseal it with vccpki unseal")

// openKeys finds where this CA's keys are and opens that source. The
// store decides for an existing hierarchy; the configuration (and init's
// flags) for a new one.
func (a *app) openKeys(ctx context.Context, bootstrap bool, ik initKeys) (*keyBackend, error) {
	cas, err := a.store.CAs(ctx)
	if err != nil {
		return nil, err
	}
	if len(cas) == 0 {
		if !bootstrap {
			return nil, fmt.Errorf("the data directory %s holds no CA yet: run 'vccpki init' or 'vccpki serve' first", a.cfg.data)
		}
		return a.newKeys(ik)
	}
	if ik.shares > 0 {
		return nil, errors.New("this data directory already holds a CA: --shares applies to a new one (vccpki rekey re-splits)")
	}
	if rec, err := a.store.Key(ctx, tokenRecordID); err == nil {
		if a.cfg.keys.Backend == backendSoftware {
			return nil, errors.New("this CA's keys are in a PKCS#11 token, but keys.backend is software")
		}
		var tr tokenRecord
		if err := json.Unmarshal(rec.Sealed, &tr); err != nil {
			return nil, fmt.Errorf("the store's PKCS#11 token record is damaged: %w", err)
		}
		return a.openToken(tr, false)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if a.cfg.keys.Backend == backendPKCS11 {
		return nil, errors.New("keys.backend is pkcs11, but this CA's keys are in the software key store (it was created without --pkcs11)")
	}
	rec, err := a.store.Key(ctx, keys.KEKRecordID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("the store holds a CA hierarchy but no key store record")
	}
	if err != nil {
		return nil, err
	}
	if rec.Algorithm == keys.SharesAlgorithm {
		return nil, errSharesSealed
	}
	pass, err := a.passphrase()
	if err != nil {
		return nil, err
	}
	kek, err := keys.OpenKEK(pass, rec.Sealed)
	clear(pass)
	if err != nil {
		return nil, err
	}
	return &keyBackend{src: keys.NewSoftware(kek, a.store), close: func() {}}, nil
}

// newKeys makes the key source of a new hierarchy.
func (a *app) newKeys(ik initKeys) (*keyBackend, error) {
	if a.cfg.keys.Backend == backendPKCS11 {
		if ik.shares > 0 {
			return nil, errors.New("--shares splits the software key store's KEK; a PKCS#11 token guards its keys with its PIN")
		}
		p := a.cfg.keys.PKCS11
		return a.openToken(tokenRecord{Module: p.Module, TokenLabel: p.TokenLabel, Slot: p.Slot}, true)
	}
	if ik.shares > 0 {
		kek, shares, params, err := keys.NewSharedKEK(ik.shares, ik.threshold)
		if err != nil {
			return nil, err
		}
		return &keyBackend{src: keys.NewSoftware(kek, a.store), bootstrap: true, shares: shares, close: func() {},
			extra: []store.KeyRecord{{ID: keys.KEKRecordID, Algorithm: keys.SharesAlgorithm, Sealed: params}}}, nil
	}
	pass, err := a.passphrase()
	if err != nil {
		return nil, err
	}
	kek, params, err := keys.NewKEK(pass, keys.DefaultKDF)
	clear(pass)
	if err != nil {
		return nil, err
	}
	return &keyBackend{src: keys.NewSoftware(kek, a.store), bootstrap: true, close: func() {},
		extra: []store.KeyRecord{{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}}}, nil
}

// openToken logs into the token. The configuration may move the module
// (another path on this host) but not name another token than the store's.
func (a *app) openToken(tr tokenRecord, isNew bool) (*keyBackend, error) {
	p := a.cfg.keys.PKCS11
	if p.Module != "" {
		tr.Module = p.Module
	}
	if !isNew && (p.TokenLabel != "" && p.TokenLabel != tr.TokenLabel || p.Slot != nil && (tr.Slot == nil || *p.Slot != *tr.Slot)) {
		return nil, fmt.Errorf("keys.pkcs11 names another token than the one this CA was created in (%s)", describeToken(tr))
	}
	if tr.Module == "" || (tr.TokenLabel == "" && tr.Slot == nil) {
		return nil, errors.New("PKCS#11 needs keys.pkcs11.module and token_label or slot (or vccpki init --pkcs11-module and --pkcs11-token)")
	}
	pin, err := a.pin()
	if err != nil {
		return nil, err
	}
	tok, err := pkcs11.Open(pkcs11.Config{Module: tr.Module, TokenLabel: tr.TokenLabel, Slot: tr.Slot, PIN: pin, MaxSessions: p.MaxSessions})
	if err != nil {
		return nil, err
	}
	signers := p.MaxSigners
	if signers == 0 {
		signers = max(p.MaxSessions, 16) - 1
	}
	timeout := defaultSignDur
	switch p.SignTimeout {
	case "":
	case "none":
		timeout = 0
	default:
		timeout, _ = parseDuration(p.SignTimeout) // checked by resolve
	}
	kb := &keyBackend{src: keys.Bounded(tok, signers, timeout), bootstrap: isNew, close: func() { _ = tok.Close() }}
	if isNew {
		ref, _ := json.Marshal(tokenRecord{Module: tr.Module, TokenLabel: tr.TokenLabel, Slot: tr.Slot})
		kb.extra = []store.KeyRecord{{ID: tokenRecordID, Algorithm: backendPKCS11, Sealed: ref}}
	}
	a.log.Info("CA keys are in a PKCS#11 token", "module", tr.Module, "token", describeToken(tr), "max_signers", signers, "sign_timeout", timeout)
	return kb, nil
}

func describeToken(tr tokenRecord) string {
	if tr.Slot != nil {
		return fmt.Sprintf("slot %d", *tr.Slot)
	}
	return fmt.Sprintf("token %q", tr.TokenLabel)
}

// pin reads the token's user PIN from keys.pkcs11.pin_file, else from
// the environment variable keys.pkcs11.pin_env (VCCPKI_PKCS11_PIN).
func (a *app) pin() (string, error) {
	p := a.cfg.keys.PKCS11
	if p.PINFile != "" {
		b, err := os.ReadFile(p.PINFile)
		if err != nil {
			return "", fmt.Errorf("keys.pkcs11.pin_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	env := p.PINEnv
	if env == "" {
		env = defaultPINEnv
	}
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("no PKCS#11 PIN: set $%s, or keys.pkcs11.pin_file in the configuration", env)
}
