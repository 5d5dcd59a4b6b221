package ca_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store/sqlite"
)

// TestPublicURLAdoption (13.11): an empty store fixes no URL (a command
// failing before init must not); a hierarchy without a stored URL adopts
// the first one proposed, later proposals get the stored one, and only
// SetPublicURL changes it.
func TestPublicURLAdoption(t *testing.T) {
	ctx := context.Background()
	empty, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if got, err := ca.AdoptPublicURL(ctx, empty, "http://a.example/", "operator:test"); err != nil || got != "http://a.example" {
		t.Fatalf("on an empty store: %q, %v; want the proposal, normalised", got, err)
	}
	if got, err := ca.StoredPublicURL(ctx, empty); err != nil || got != "" {
		t.Fatalf("an empty store stored %q, %v", got, err)
	}

	f := newFixture(t, ca.DefaultHierarchy()) // Bootstrap alone stores no URL: a store from before
	for _, tc := range []struct {
		name, proposed, want string
	}{
		{"first proposal is adopted", "http://ca.vcc.test", "http://ca.vcc.test"},
		{"another proposal gets the stored URL", "http://127.0.0.1:9999", "http://ca.vcc.test"},
	} {
		if got, err := ca.AdoptPublicURL(ctx, f.store, tc.proposed, "operator:test"); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := ca.SetPublicURL(ctx, f.store, "https://ca.vcc.test", "operator:test"); err == nil {
		t.Error("SetPublicURL took an https:// URL, which the linter refuses in every certificate")
	}
	if old, err := ca.SetPublicURL(ctx, f.store, "http://pki.vcc.test", "operator:test"); err != nil || old != "http://ca.vcc.test" {
		t.Errorf("SetPublicURL = %q, %v", old, err)
	}
	if got, _ := ca.AdoptPublicURL(ctx, f.store, "http://ca.vcc.test", "operator:test"); got != "http://pki.vcc.test" {
		t.Errorf("after SetPublicURL the stored URL is %q", got)
	}
}
