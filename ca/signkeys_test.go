package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"slices"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// TestSigningKeys: a server-held key exists only for code-signing
// profiles; without one it is made on use only when asked; its
// certificate is an ordinary, recorded certificate of the profile; a
// second engine on the same store uses the same key; sign key create
// replaces it; both are audited.
func TestSigningKeys(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	by := ca.Requester{Protocol: "api", Subject: "ci"}
	if got := f.engine.SigningProfiles(); !slices.Equal(got, []string{"clara-signing", "covina-signing", "veritas-signing", "vpb-signing"}) {
		t.Errorf("SigningProfiles = %v", got)
	}
	refusals := []struct {
		name, profile string
		create        bool
		want          error
	}{
		{"unknown profile", "nope", true, caerr.UnknownProfile},
		{"not a signing profile", "argus", true, caerr.UnknownProfile},
		{"no key, none made", "clara-signing", false, caerr.Conflict},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.engine.SigningKey(ctx, tc.profile, tc.create, by); !errors.Is(err, tc.want) {
				t.Errorf("SigningKey(%s) = %v, want %v", tc.profile, err, tc.want)
			}
		})
	}
	sk, err := f.engine.SigningKey(ctx, "clara-signing", true, by)
	if err != nil {
		t.Fatal(err)
	}
	c := sk.Cert
	if c.Subject.CommonName != "clara-server-signer" || !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) ||
		len(c.URIs) != 1 || c.URIs[0].String() != "urn:vcc:signer:clara-signing:clara-server-signer" {
		t.Errorf("certificate %s EKU %v URIs %v", c.Subject, c.ExtKeyUsage, c.URIs)
	}
	if rec, err := f.store.Certificate(ctx, ca.FormatSerial(c.SerialNumber)); err != nil || rec.Profile != "clara-signing" {
		t.Errorf("the certificate is not recorded under its profile: %+v %v", rec, err)
	}
	if again, err := f.engine.SigningKey(ctx, "clara-signing", false, by); err != nil || !again.Cert.Equal(c) {
		t.Errorf("a second use made another key: %v", err)
	}
	// Another process on the same store signs with the same key.
	other := openFixture(t, f.dir, ca.DefaultHierarchy())
	osk, err := other.engine.SigningKey(ctx, "clara-signing", false, by)
	if err != nil || !osk.Cert.Equal(c) {
		t.Fatalf("the second engine: %v", err)
	}
	sum := sha256.Sum256([]byte("artifact"))
	sig, err := osk.Signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(c.PublicKey.(*ecdsa.PublicKey), sum[:], sig) {
		t.Errorf("the loaded key does not sign for the certificate: %v", err)
	}
	renewed, err := f.engine.CreateSigningKey(ctx, "clara-signing", ca.Requester{Protocol: ca.ProtocolOperator, Subject: "alice"})
	if err != nil || renewed.Cert.Equal(c) {
		t.Fatalf("CreateSigningKey: %v (same certificate: %v)", err, renewed != nil && renewed.Cert.Equal(c))
	}
	if now, err := f.engine.SigningKey(ctx, "clara-signing", false, by); err != nil || !now.Cert.Equal(renewed.Cert) {
		t.Errorf("after sign key create, SigningKey has the old certificate: %v", err)
	}
	var created []string
	_ = f.store.WalkAudit(ctx, func(e store.AuditEntry) error {
		if e.Action == "sign.key.create" {
			created = append(created, e.Actor)
		}
		return nil
	})
	if !slices.Equal(created, []string{"api:ci", "operator:alice"}) {
		t.Errorf("sign.key.create entries by %v", created)
	}
}
