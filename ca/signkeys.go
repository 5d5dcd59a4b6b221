package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// Server-held signing keys: one key per signing profile (clara-signing,
// covina-signing, …) that stays in the CA's key store or token, with a
// certificate issued from that profile, for CI pipelines that must not
// hold keys (POST /api/v1/sign). The certificate is an ordinary
// certificate of the profile: recorded, revocable, answered by OCSP.

// SigningKey is a profile's server-held key and its certificate.
type SigningKey struct {
	Profile string
	Signer  crypto.Signer
	Cert    *x509.Certificate
	Chain   []*x509.Certificate // issuing CA first; the root is not included
}

// ErrNoSigningKey: the profile has no server-held key and none may be
// made on use.
var ErrNoSigningKey = caerr.New(caerr.Conflict, "the profile has no server-held signing key: run vccpki sign key create --profile P")

// signingKeys caches each profile's key; mu serialises creation.
type signingKeys struct {
	mu    sync.Mutex
	byKey sync.Map // profile -> *SigningKey
}

// signingKeyType is the type of every server-held signing key: P-256,
// which every signing profile accepts and Sigstore verifiers know.
const signingKeyType = keys.ECDSAP256

// SigningProfiles lists the profiles a server-held key can be made for:
// the code-signing profiles (a subject pattern and id-kp-codeSigning).
func (e *Engine) SigningProfiles() []string {
	var out []string
	for _, p := range e.profiles.All() {
		if p.SubjectPattern != "" && slices.Contains(p.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
			out = append(out, p.Name)
		}
	}
	return out
}

// SigningKey returns the profile's server-held key. Without one (or with
// a certificate that is due for renewal: a third of its lifetime left)
// it makes a new one when create is true, and returns ErrNoSigningKey
// otherwise. The caller is audited by the creation.
func (e *Engine) SigningKey(ctx context.Context, profileName string, create bool, by Requester) (*SigningKey, error) {
	if err := e.checkSigningProfile(profileName); err != nil {
		return nil, err
	}
	now := e.cfg.Now()
	if v, ok := e.signing.byKey.Load(profileName); ok && !dueForRenewal(v.(*SigningKey).Cert, now) {
		return v.(*SigningKey), nil
	}
	e.signing.mu.Lock()
	defer e.signing.mu.Unlock()
	if v, ok := e.signing.byKey.Load(profileName); ok && !dueForRenewal(v.(*SigningKey).Cert, now) {
		return v.(*SigningKey), nil
	}
	sk, err := e.loadSigningKey(ctx, profileName)
	switch {
	case err == nil && !dueForRenewal(sk.Cert, now):
		e.signing.byKey.Store(profileName, sk)
		return sk, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, err
	case !create && sk == nil:
		return nil, ErrNoSigningKey
	}
	// None yet, or due for renewal: a new key (renewal is like the
	// server's other certificates: the old one keeps verifying what it
	// signed).
	return e.createSigningKey(ctx, profileName, by)
}

// CreateSigningKey makes a new server-held key for the profile, whether
// or not it has one (vccpki sign key create).
func (e *Engine) CreateSigningKey(ctx context.Context, profileName string, by Requester) (*SigningKey, error) {
	if err := e.checkSigningProfile(profileName); err != nil {
		return nil, err
	}
	e.signing.mu.Lock()
	defer e.signing.mu.Unlock()
	return e.createSigningKey(ctx, profileName, by)
}

func dueForRenewal(c *x509.Certificate, now time.Time) bool {
	return now.After(c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore) / 3))
}

func (e *Engine) checkSigningProfile(name string) error {
	if _, ok := e.profiles.Get(name); !ok {
		return caerr.New(caerr.UnknownProfile, "no profile named %q (signing profiles: %s)", name, strings.Join(e.SigningProfiles(), ", "))
	}
	if !slices.Contains(e.SigningProfiles(), name) {
		return caerr.New(caerr.UnknownProfile, "profile %s is not a code-signing profile (signing profiles: %s)", name, strings.Join(e.SigningProfiles(), ", "))
	}
	return nil
}

func (e *Engine) loadSigningKey(ctx context.Context, profileName string) (*SigningKey, error) {
	rec, err := e.store.SigningKey(ctx, profileName)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return nil, fmt.Errorf("the signing certificate of %s: %w", profileName, err)
	}
	signer, err := e.keys.Signer(ctx, rec.KeyID)
	if err != nil {
		return nil, fmt.Errorf("the signing key of %s: %w", profileName, err)
	}
	return &SigningKey{Profile: profileName, Signer: signer, Cert: cert, Chain: e.chainOf(profileName)}, nil
}

func (e *Engine) chainOf(profileName string) []*x509.Certificate {
	p, _ := e.profiles.Get(profileName)
	return chainFrom(e.ca(p.Issuer))
}

// createSigningKey: a new key in the key store, a certificate for it
// from the profile (issued, linted and recorded as any other), and the
// profile's pointer to both, audited. e.signing.mu is held.
func (e *Engine) createSigningKey(ctx context.Context, profileName string, by Requester) (*SigningKey, error) {
	if e.keys == nil {
		return nil, caerr.New(caerr.Unavailable, "the engine was opened without keys")
	}
	p, _ := e.profiles.Get(profileName)
	now := e.cfg.Now().UTC()
	keyID := fmt.Sprintf("sign-%s-%d", profileName, now.UnixNano())
	signer, krec, err := e.keys.Create(ctx, keyID, signingKeyType)
	if err != nil {
		return nil, fmt.Errorf("a signing key for %s: %w", profileName, err)
	}
	cn := strings.TrimSuffix(p.SubjectPattern, "*") + "server-signer"
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, signer)
	if err != nil {
		return nil, err
	}
	issued, err := e.Issue(ctx, IssueRequest{Profile: profileName, CSR: csr, Requester: Requester{Protocol: ProtocolOperator, Subject: "signing-key for " + by.String()}})
	if err != nil {
		return nil, fmt.Errorf("the certificate of the signing key of %s: %w", profileName, err)
	}
	rec := store.SigningKey{Profile: profileName, KeyID: keyID, Serial: issued.Serial, DER: issued.Certificate.Raw, CreatedAt: now}
	ev := store.AuditEvent{Time: now, Actor: by.String(), Action: "sign.key.create", Object: profileName + " serial " + issued.Serial, Result: "ok"}
	if err := e.store.PutSigningKey(ctx, krec, rec, ev); err != nil {
		return nil, err
	}
	sk := &SigningKey{Profile: profileName, Signer: signer, Cert: issued.Certificate, Chain: issued.Chain}
	e.signing.byKey.Store(profileName, sk)
	return sk, nil
}

// RenewSigningKeys renews the server-held signing keys ahead of expiry
// while the server runs, as RenewOCSPResponders does for the responders:
// a key whose certificate has a third of its lifetime or less left is
// replaced by a new key and certificate, so that no signature request
// finds it expired or waits for a new one. Profiles without a key get
// none. A key that another process sharing the store made is taken over
// (the cache is replaced with it). Signatures made before keep the
// certificate that made them. It returns the profiles renewed.
func (e *Engine) RenewSigningKeys(ctx context.Context, actor string) ([]string, error) {
	var renewed []string
	for _, name := range e.SigningProfiles() {
		did, err := e.renewSigningKey(ctx, name, actor)
		if err != nil {
			return renewed, fmt.Errorf("renewing the signing key of %s: %w", name, err)
		}
		if did {
			renewed = append(renewed, name)
		}
	}
	return renewed, nil
}

func (e *Engine) renewSigningKey(ctx context.Context, name, actor string) (bool, error) {
	e.signing.mu.Lock()
	defer e.signing.mu.Unlock()
	sk, err := e.loadSigningKey(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case !dueForRenewal(sk.Cert, e.cfg.Now()):
		e.signing.byKey.Store(name, sk)
		return false, nil
	}
	_, err = e.createSigningKey(ctx, name, Requester{Protocol: ProtocolOperator, Subject: actor + " (renewal ahead of expiry)"})
	return err == nil, err
}
