package ca_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// TestProfileOrganisation: a profile may only name an issuing CA its
// organisation owns; ca.Open refuses any other with an error naming both
// organisations, and the org of issuance reaches the audit entry.
func TestProfileOrganisation(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	if err := f.store.CreateOrganisation(ctx, store.Organisation{Name: "akme", Display: "Akme", CreatedAt: f.engine.Root().NotBefore, CreatedBy: "test"},
		store.AuditEvent{Actor: "test", Action: "org.create", Object: "akme", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../configs/profiles/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	load := func(t *testing.T, org string) *profile.Set {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "default.yaml"), src, 0o600); err != nil {
			t.Fatal(err)
		}
		body := string(src)
		if org != "" {
			body = "organisation: " + org + "\n" + body
		}
		if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := profile.Load(dir, ca.IssuingCAs)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	open := func(s *profile.Set) error {
		rec, err := f.store.Key(ctx, keys.KEKRecordID)
		if err != nil {
			t.Fatal(err)
		}
		kek, err := keys.OpenKEK([]byte(testPassphrase), rec.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ca.Open(ctx, f.store, keys.NewSoftware(kek, f.store), s, ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: ca.DefaultHierarchy()}, ca.Options{})
		return err
	}
	t.Run("operator profile on an operator CA", func(t *testing.T) {
		s := load(t, "")
		if p, _ := s.Get("web"); p.Organisation != store.OperatorOrg {
			t.Errorf("default organisation = %q; want %q", p.Organisation, store.OperatorOrg)
		}
		if err := open(s); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("partner profile on an operator CA", func(t *testing.T) {
		err := open(load(t, "akme"))
		if err == nil || !strings.Contains(err.Error(), `profile web of organisation "akme" names the issuing CA "services", which organisation "vcc" owns`) {
			t.Fatalf("Open = %v; want the refusal naming both organisations", err)
		}
	})
	t.Run("malformed organisation", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "default.yaml"), []byte("organisation: Not_A_Label\n"+string(src)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := profile.Load(dir, ca.IssuingCAs); err == nil || !strings.Contains(err.Error(), `field "organisation"`) {
			t.Fatalf("Load = %v; want a field error", err)
		}
	})
	t.Run("partner profile on its own CA", func(t *testing.T) {
		// The CA creation is another command's; here the partner claims
		// services so that both directions are checked on one hierarchy.
		if err := f.store.AddOrganisationCA(ctx, "akme", "services", store.AuditEvent{Actor: "test", Action: "org.add-ca", Object: "akme", Result: "ok"}); err != nil {
			t.Fatal(err)
		}
		err := open(load(t, "akme"))
		if err == nil || !strings.Contains(err.Error(), `profile default of organisation "vcc" names the issuing CA "services", which organisation "akme" owns`) {
			t.Fatalf("Open = %v; want the operator's default refused now", err)
		}
	})
}
