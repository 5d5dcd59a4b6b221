package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/pkcs11"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/store"
)

// tokenRecordID is the key record naming the token of a PKCS#11 hierarchy
// (module, label or slot; no PIN), so that serve finds the token
// vccpki init --pkcs11 used.
const tokenRecordID = "pkcs11-token"

// tokenRecord is what the store keeps about the token.
type tokenRecord struct {
	Module     string `json:"module"`
	TokenLabel string `json:"token_label,omitempty"`
	Slot       *int   `json:"slot,omitempty"`
}

// Store is the part of the store a key source is opened from.
type Store interface {
	keys.KeyLoader
	CAs(ctx context.Context) ([]store.CARecord, error)
}

// Options say what the process opening the keys may do.
type Options struct {
	// Bootstrap allows a store without a hierarchy: the keys of a new one
	// are made. Without it such a store is an error.
	Bootstrap bool
	// Shares and Threshold split a new software key store's KEK among
	// key holders (vccpki init --shares); zero for a passphrase.
	Shares, Threshold int
	// Data is the data directory (the development passphrase file).
	Data string
	Log  *slog.Logger
}

// Backend is the CA's key source for one process.
type Backend struct {
	Source    keys.Source
	Bootstrap bool              // the store holds no hierarchy yet
	Extra     []store.KeyRecord // stored with a new hierarchy
	Shares    []shamir.Share    // printed once by init --shares
	close     func()
}

// Close logs out of a token; a software key store needs nothing.
func (b *Backend) Close() {
	if b.close != nil {
		b.close()
	}
}

// ErrSharesSealed explains why a command that signs cannot run on a key
// store sealed under shares.
var ErrSharesSealed = errors.New("the CA key store is unsealed with shares (vccpki init --shares): only the running server holds the unsealed keys; sign through it (ACME, EST, TSA), or unseal it with vccpki unseal")

// SharesParams returns the stored KEK parameters when this CA's key store
// is split into shares, and nil otherwise.
func SharesParams(ctx context.Context, st keys.KeyLoader) ([]byte, error) {
	rec, err := st.Key(ctx, keys.KEKRecordID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil || rec.Algorithm != keys.SharesAlgorithm {
		return nil, err
	}
	return rec.Sealed, nil
}

// Open finds where this CA's keys are and opens that source. The store
// decides for an existing hierarchy; the configuration (and init's
// choices in o) for a new one.
func Open(ctx context.Context, st Store, c Config, o Options) (*Backend, error) {
	cas, err := st.CAs(ctx)
	if err != nil {
		return nil, err
	}
	if len(cas) == 0 {
		if !o.Bootstrap {
			return nil, fmt.Errorf("the data directory %s holds no CA yet: run 'vccpki init' or 'vccpki serve' first", o.Data)
		}
		return create(st, c, o)
	}
	if o.Shares > 0 {
		return nil, errors.New("this data directory already holds a CA: --shares applies to a new one (vccpki rekey re-splits)")
	}
	if rec, err := st.Key(ctx, tokenRecordID); err == nil {
		if c.Backend == Software {
			return nil, errors.New("this CA's keys are in a PKCS#11 token, but keys.backend is software")
		}
		var tr tokenRecord
		if err := json.Unmarshal(rec.Sealed, &tr); err != nil {
			return nil, fmt.Errorf("the store's PKCS#11 token record is damaged: %w", err)
		}
		return openToken(c.PKCS11, tr, false, o.Log)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if c.Backend == PKCS11 {
		return nil, errors.New("keys.backend is pkcs11, but this CA's keys are in the software key store (it was created without --pkcs11)")
	}
	rec, err := st.Key(ctx, keys.KEKRecordID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("the store holds a CA hierarchy but no key store record")
	}
	if err != nil {
		return nil, err
	}
	if rec.Algorithm == keys.SharesAlgorithm {
		return nil, ErrSharesSealed
	}
	pass, err := c.passphrase(o.Data, o.Log)
	if err != nil {
		return nil, err
	}
	kek, err := keys.OpenKEK(pass, rec.Sealed)
	clear(pass)
	if err != nil {
		return nil, err
	}
	return &Backend{Source: keys.NewSoftware(kek, st)}, nil
}

// create makes the key source of a new hierarchy.
func create(st keys.KeyLoader, c Config, o Options) (*Backend, error) {
	if c.Backend == PKCS11 {
		if o.Shares > 0 {
			return nil, errors.New("--shares splits the software key store's KEK; a PKCS#11 token guards its keys with its PIN")
		}
		p := c.PKCS11
		return openToken(p, tokenRecord{Module: p.Module, TokenLabel: p.TokenLabel, Slot: p.Slot}, true, o.Log)
	}
	if o.Shares > 0 {
		kek, shares, params, err := keys.NewSharedKEK(o.Shares, o.Threshold)
		if err != nil {
			return nil, err
		}
		return &Backend{Source: keys.NewSoftware(kek, st), Bootstrap: true, Shares: shares,
			Extra: []store.KeyRecord{{ID: keys.KEKRecordID, Algorithm: keys.SharesAlgorithm, Sealed: params}}}, nil
	}
	pass, err := c.passphrase(o.Data, o.Log)
	if err != nil {
		return nil, err
	}
	kek, params, err := keys.NewKEK(pass, keys.DefaultKDF)
	clear(pass)
	if err != nil {
		return nil, err
	}
	return &Backend{Source: keys.NewSoftware(kek, st), Bootstrap: true,
		Extra: []store.KeyRecord{{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}}}, nil
}

// openToken logs into the token. The configuration may move the module
// (another path on this host) but not name another token than the store's.
func openToken(p PKCS11Config, tr tokenRecord, isNew bool, log *slog.Logger) (*Backend, error) {
	if p.Module != "" {
		tr.Module = p.Module
	}
	if !isNew && (p.TokenLabel != "" && p.TokenLabel != tr.TokenLabel || p.Slot != nil && (tr.Slot == nil || *p.Slot != *tr.Slot)) {
		return nil, fmt.Errorf("keys.pkcs11 names another token than the one this CA was created in (%s)", tr)
	}
	if tr.Module == "" || (tr.TokenLabel == "" && tr.Slot == nil) {
		return nil, errors.New("PKCS#11 needs keys.pkcs11.module and token_label or slot (or vccpki init --pkcs11-module and --pkcs11-token)")
	}
	pin, err := p.pin()
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
	timeout, _ := p.signTimeout() // checked by Resolve
	b := &Backend{Source: keys.Bounded(tok, signers, timeout), Bootstrap: isNew, close: func() { _ = tok.Close() }}
	if isNew {
		ref, _ := json.Marshal(tr)
		b.Extra = []store.KeyRecord{{ID: tokenRecordID, Algorithm: PKCS11, Sealed: ref}}
	}
	log.Info("CA keys are in a PKCS#11 token", "module", tr.Module, "token", tr.String(), "max_signers", signers, "sign_timeout", timeout)
	return b, nil
}

func (tr tokenRecord) String() string {
	if tr.Slot != nil {
		return fmt.Sprintf("slot %d", *tr.Slot)
	}
	return fmt.Sprintf("token %q", tr.TokenLabel)
}
