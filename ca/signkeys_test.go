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
	"time"

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

// TestRenewSigningKeys: the renewal pass replaces a signing key once a
// third of its certificate's life is left, not before and not twice;
// profiles without a key get none; a second engine on the store takes
// the renewed key over; the renewal is audited.
func TestRenewSigningKeys(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	first, err := f.engine.SigningKey(ctx, "clara-signing", true, ca.Requester{Protocol: "api", Subject: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	life := first.Cert.NotAfter.Sub(first.Cert.NotBefore)
	at := func(frac float64) *ca.Engine {
		cfg := testConfig()
		when := first.Cert.NotBefore.Add(time.Duration(float64(life) * frac))
		cfg.Now = func() time.Time { return when }
		return reopen(t, f, cfg, ca.Options{})
	}
	steps := []struct {
		name string
		e    *ca.Engine
		want []string
	}{
		{"fresh", f.engine, nil},
		{"at half its life", at(0.5), nil},
		{"with less than a third left", at(0.7), []string{"clara-signing"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := st.e.RenewSigningKeys(ctx, "system")
			if err != nil || !slices.Equal(got, st.want) {
				t.Fatalf("renewed %v, %v; want %v", got, err, st.want)
			}
		})
	}
	late := steps[2].e
	if got, err := late.RenewSigningKeys(ctx, "system"); err != nil || len(got) != 0 {
		t.Errorf("right after the renewal: renewed %v, %v", got, err)
	}
	renewed, err := late.SigningKey(ctx, "clara-signing", false, ca.Requester{Protocol: "api", Subject: "ci"})
	if err != nil || renewed.Cert.Equal(first.Cert) || !renewed.Cert.NotAfter.After(first.Cert.NotAfter) {
		t.Fatalf("after the renewal the key is not a later one: %v", err)
	}
	// An engine that had the old key cached takes the new one over.
	other := steps[1].e
	if got, err := other.RenewSigningKeys(ctx, "system"); err != nil || len(got) != 0 {
		t.Fatalf("the other engine renewed %v again: %v", got, err)
	}
	if sk, err := other.SigningKey(ctx, "clara-signing", false, ca.Requester{Protocol: "api", Subject: "ci"}); err != nil || !sk.Cert.Equal(renewed.Cert) {
		t.Errorf("the other engine signs with the old key: %v", err)
	}
	for _, p := range []string{"covina-signing", "veritas-signing", "vpb-signing"} {
		if _, err := late.SigningKey(ctx, p, false, ca.Requester{}); !errors.Is(err, caerr.Conflict) {
			t.Errorf("%s got a key it never had: %v", p, err)
		}
	}
	var actors []string
	_ = f.store.WalkAudit(ctx, func(e store.AuditEntry) error {
		if e.Action == "sign.key.create" {
			actors = append(actors, e.Actor)
		}
		return nil
	})
	if !slices.Equal(actors, []string{"api:ci", "operator:system (renewal ahead of expiry)"}) {
		t.Errorf("sign.key.create entries by %v", actors)
	}
}
