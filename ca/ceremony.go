package ca

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/internal/safefile"
	"github.com/vcc/vccpki/store"
)

// An offline root (vccpki init --offline-root) keeps the root key in a
// root directory of its own, sealed under its own passphrase, that serve
// never opens. The serving store holds the root certificate and a key
// record of algorithm OfflineKeyAlgorithm in place of the key. The root
// signs only in a ceremony on its own host (RootHost): the root CRL
// (ceremony sign-crl) and issuing CA certificates (ceremony create-ca),
// each written as an Artefact that ImportArtefact loads into the serving
// store. The server serves the last imported root CRL and never signs one.

// OfflineKeyAlgorithm is the store.KeyRecord Algorithm of a key that is
// not in the serving key store: the offline root's.
const OfflineKeyAlgorithm = "offline"

// ErrRootOffline is the refusal of anything that needs the offline root's key.
var ErrRootOffline = caerr.New(caerr.Conflict, "the root CA is offline (vccpki init --offline-root): its key signs only in a ceremony on the root's host (vccpki ceremony sign-crl, vccpki ceremony create-ca after vccpki ca request)")

// refuseOfflineKey returns ErrRootOffline when the key keyID is offline.
func refuseOfflineKey(ctx context.Context, st keys.KeyLoader, keyID string) error {
	rec, err := st.Key(ctx, keyID)
	if err == nil && rec.Algorithm == OfflineKeyAlgorithm {
		return ErrRootOffline
	}
	return nil
}

// RootKeyFileName is the file in the root directory that holds the sealed
// root key, its certificate and the last root CRL number signed.
const RootKeyFileName = "offline-root.json"

const rootKeyFormat = "vccpki-offline-root/1"

// rootKeyFile is the root directory's one file (JSON; []byte fields are
// base64).
type rootKeyFile struct {
	Format    string `json:"format"`
	KeyID     string `json:"key_id"`
	Algorithm string `json:"algorithm"`
	// Unseal is how the root's KEK opens: "passphrase" (KDF holds the
	// keys.NewKEK parameters) or "shares" (KDF holds keys.NewSharedKEK's);
	// "pkcs11": the key is in the PKCS#11 token Token, labelled key_id,
	// and the file holds no key.
	Unseal      string          `json:"unseal"`
	KDF         json.RawMessage `json:"kdf,omitempty"`
	SealedKey   []byte          `json:"sealed_key,omitempty"` // keys.KEK.Seal(key_id, key)
	Token       *RootToken      `json:"token,omitempty"`
	Certificate []byte          `json:"certificate"`
	CRLNumber   int64           `json:"crl_number"` // the last root CRL signed
}

// OfflineRootInit is the key source vccpki init --offline-root bootstraps
// with: the root's key is made here and sealed for the root directory;
// every other key goes to Source, the serving key store.
type OfflineRootInit struct {
	keys.Source
	kek    *keys.KEK
	token  keys.Source // the root's PKCS#11 token, in place of kek
	file   *rootKeyFile
	signer crypto.Signer
}

// NewOfflineRootInit seals the new root key under passphrase (at least 12
// bytes; its own, not the serving key store's).
func NewOfflineRootInit(passphrase []byte) (*OfflineRootInit, error) {
	kek, params, err := keys.NewKEK(passphrase, keys.DefaultKDF)
	if err != nil {
		return nil, fmt.Errorf("the root passphrase: %w", err)
	}
	return &OfflineRootInit{kek: kek, file: &rootKeyFile{Format: rootKeyFormat, Unseal: unsealPassphrase, KDF: params}}, nil
}

// NewOfflineRootInitShares seals the new root key under a KEK split into
// n shares of which k open it (its own split, not the serving key
// store's). The shares are returned once, to hand to their holders.
func NewOfflineRootInitShares(n, k int) (*OfflineRootInit, []shamir.Share, error) {
	kek, shares, params, err := keys.NewSharedKEK(n, k)
	if err != nil {
		return nil, nil, fmt.Errorf("the root's shares: %w", err)
	}
	return &OfflineRootInit{kek: kek, file: &rootKeyFile{Format: rootKeyFormat, Unseal: unsealShares, KDF: params}}, shares, nil
}

// RootToken names the PKCS#11 token that holds an offline root's key
// (nothing secret: the PIN is given at each ceremony).
type RootToken struct {
	Module     string `json:"module"`
	TokenLabel string `json:"token_label,omitempty"`
	Slot       *int   `json:"slot,omitempty"`
}

// NewOfflineRootInitToken makes the new root key inside a PKCS#11 token
// (src, the token opened as a key source; t names it for the ceremonies):
// generated there, sensitive and non-extractable, it never leaves it.
func NewOfflineRootInitToken(src keys.Source, t RootToken) *OfflineRootInit {
	return &OfflineRootInit{token: src, file: &rootKeyFile{Format: rootKeyFormat, Unseal: unsealPKCS11, Token: &t}}
}

const (
	unsealPassphrase = "passphrase"
	unsealShares     = "shares"
	unsealPKCS11     = "pkcs11"
)

// Create implements keys.Source.
func (o *OfflineRootInit) Create(ctx context.Context, id string, t keys.Type) (crypto.Signer, store.KeyRecord, error) {
	if !strings.HasPrefix(id, RootCA+"-") || o.file.KeyID != "" {
		return o.Source.Create(ctx, id, t)
	}
	var k crypto.Signer
	if o.token != nil {
		var err error
		if k, _, err = o.token.Create(ctx, id, t); err != nil {
			return nil, store.KeyRecord{}, fmt.Errorf("the root key in its token: %w", err)
		}
	} else {
		g, err := keys.Generate(t)
		if err != nil {
			return nil, store.KeyRecord{}, err
		}
		if o.file.SealedKey, err = o.kek.Seal(id, g); err != nil {
			return nil, store.KeyRecord{}, err
		}
		k = g
	}
	o.file.KeyID, o.file.Algorithm, o.signer = id, string(t), k
	return k, store.KeyRecord{ID: id, Algorithm: OfflineKeyAlgorithm, Sealed: []byte("the root key is offline")}, nil
}

// WriteRootDir writes the root directory once Bootstrap has stored the
// hierarchy: the sealed key and the root certificate from st.
func (o *OfflineRootInit) WriteRootDir(ctx context.Context, dir string, st store.Store) error {
	if o.file.KeyID == "" {
		return errors.New("no root key was made (the data directory already held a CA)")
	}
	root, err := rootRecord(ctx, st)
	if err != nil {
		return err
	}
	if root.KeyID != o.file.KeyID {
		return fmt.Errorf("the stored root uses key %s, not the offline key %s", root.KeyID, o.file.KeyID)
	}
	o.file.Certificate = root.DER
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("the root directory: %w", err)
	}
	path := filepath.Join(dir, RootKeyFileName)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists already: a root directory holds one root", path)
	}
	return writeRootFile(dir, o.file)
}

// RootHost is the root directory WriteRootDir wrote, opened with the key
// still in memory: init signs the first root CRL with it.
func (o *OfflineRootInit) RootHost(dir string) (*RootHost, error) {
	if o.signer == nil || o.file.Certificate == nil {
		return nil, errors.New("the root directory is not written yet")
	}
	cert, err := x509.ParseCertificate(o.file.Certificate)
	if err != nil {
		return nil, err
	}
	return &RootHost{dir: dir, file: *o.file, cert: cert, signer: o.signer}, nil
}

func writeRootFile(dir string, f *rootKeyFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return safefile.Write(filepath.Join(dir, RootKeyFileName), append(b, '\n'), 0o600)
}

// rootRecord is the root's CA record in st.
func rootRecord(ctx context.Context, st store.Store) (store.CARecord, error) {
	recs, err := st.CAs(ctx)
	if err != nil {
		return store.CARecord{}, err
	}
	for _, r := range recs {
		if r.Name == RootCA && r.Role == "root" {
			return r, nil
		}
	}
	return store.CARecord{}, errors.New("the store holds no root CA")
}

// RootFingerprint is the hex SHA-256 of a root certificate's DER: what
// binds an artefact or a request to one hierarchy.
func RootFingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// RootHost is an opened root directory: the offline root's key unsealed,
// on the root's host, for one ceremony.
type RootHost struct {
	dir    string
	file   rootKeyFile
	cert   *x509.Certificate
	signer crypto.Signer
}

// OpenRootHost unseals the root directory dir with passphrase.
func OpenRootHost(dir string, passphrase []byte) (*RootHost, error) {
	return openRootHost(dir, unsealPassphrase, func(params []byte) (*keys.KEK, error) {
		kek, err := keys.OpenKEK(passphrase, params)
		if errors.Is(err, keys.ErrWrongPassphrase) {
			return nil, fmt.Errorf("the root passphrase does not open the root directory %s (wrong passphrase?)", dir)
		}
		return kek, err
	})
}

// OpenRootHostShares unseals the root directory dir with its holders'
// shares (at least the threshold).
func OpenRootHostShares(dir string, shares []shamir.Share) (*RootHost, error) {
	return openRootHost(dir, unsealShares, func(params []byte) (*keys.KEK, error) {
		kek, err := keys.OpenSharedKEK(params, shares)
		if err != nil {
			return nil, fmt.Errorf("the shares do not open the root directory %s: %w", dir, err)
		}
		return kek, nil
	})
}

// OpenRootHostToken opens the root directory dir of a root whose key is
// in a PKCS#11 token: open opens that token (with its PIN) as a key
// source; the key is used there, never read out.
func OpenRootHostToken(ctx context.Context, dir string, open func(RootToken) (keys.Source, error)) (*RootHost, error) {
	f, cert, err := readRootFile(dir, unsealPKCS11)
	if err != nil {
		return nil, err
	}
	if f.Token == nil {
		return nil, fmt.Errorf("the root directory %s names no token", dir)
	}
	src, err := open(*f.Token)
	if err != nil {
		return nil, fmt.Errorf("the root's token: %w", err)
	}
	signer, err := src.Signer(ctx, f.KeyID)
	if err != nil {
		return nil, fmt.Errorf("the root key %s in its token: %w", f.KeyID, err)
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("the key %s in the token does not match the root certificate in %s", f.KeyID, dir)
	}
	return &RootHost{dir: dir, file: *f, cert: cert, signer: signer}, nil
}

func openRootHost(dir, unseal string, open func(params []byte) (*keys.KEK, error)) (*RootHost, error) {
	f, cert, err := readRootFile(dir, unseal)
	if err != nil {
		return nil, err
	}
	kek, err := open(f.KDF)
	if err != nil {
		return nil, err
	}
	signer, err := kek.Open(f.KeyID, f.SealedKey)
	if err != nil {
		return nil, fmt.Errorf("the root key in %s: %w", dir, err)
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("the root key in %s does not match its certificate", dir)
	}
	return &RootHost{dir: dir, file: *f, cert: cert, signer: signer}, nil
}

// readRootFile reads the root directory's file, which must open with unseal.
func readRootFile(dir, unseal string) (*rootKeyFile, *x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(dir, RootKeyFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s holds no offline root (no %s; it is made by vccpki init --offline-root --root-dir DIR)", dir, RootKeyFileName)
	}
	if err != nil {
		return nil, nil, err
	}
	var f rootKeyFile
	if err := json.Unmarshal(b, &f); err != nil || f.Format != rootKeyFormat {
		return nil, nil, fmt.Errorf("%s is not an offline root file (%s): %v", filepath.Join(dir, RootKeyFileName), rootKeyFormat, err)
	}
	if f.Unseal != unseal {
		return nil, nil, fmt.Errorf("the root directory %s is unsealed with its %s, not with %s", dir, f.Unseal, unseal)
	}
	cert, err := x509.ParseCertificate(f.Certificate)
	if err != nil {
		return nil, nil, fmt.Errorf("the root certificate in %s: %w", dir, err)
	}
	return &f, cert, nil
}

// RootUnseal is how the root directory dir opens: "passphrase", "shares"
// or "pkcs11" (its token).
func RootUnseal(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, RootKeyFileName))
	if err != nil {
		return "", err
	}
	var f rootKeyFile
	if err := json.Unmarshal(b, &f); err != nil || f.Format != rootKeyFormat {
		return "", fmt.Errorf("%s is not an offline root file (%s): %v", filepath.Join(dir, RootKeyFileName), rootKeyFormat, err)
	}
	return f.Unseal, nil
}

// Certificate is the root certificate.
func (h *RootHost) Certificate() *x509.Certificate { return h.cert }

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// checkSameRoot refuses a store (the serving data directory or its
// exported state) of another hierarchy than the root directory's.
func (h *RootHost) checkSameRoot(ctx context.Context, st store.Store) error {
	r, err := rootRecord(ctx, st)
	if err != nil {
		return err
	}
	if RootFingerprint(r.DER) != RootFingerprint(h.cert.Raw) {
		return fmt.Errorf("the data directory belongs to another hierarchy (root %s) than the root directory %s (root %s)",
			RootFingerprint(r.DER)[:16], h.dir, RootFingerprint(h.cert.Raw)[:16])
	}
	return nil
}

// oneKey is a key source holding one key, the offline root's, for the
// engine a ceremony signs with.
type oneKey struct {
	id     string
	signer crypto.Signer
}

func (o oneKey) Create(context.Context, string, keys.Type) (crypto.Signer, store.KeyRecord, error) {
	return nil, store.KeyRecord{}, errors.New("a ceremony creates no keys on the root's host")
}

func (o oneKey) Signer(_ context.Context, id string) (crypto.Signer, error) {
	if id != o.id {
		return nil, fmt.Errorf("key %s is not on the root's host", id)
	}
	return o.signer, nil
}
