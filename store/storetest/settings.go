package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/vcc/vccpki/store"
)

// testSettings: a setting is absent until adopted; adopting again keeps
// the first value and logs nothing; replacing returns the old value; each
// write that changed something is in the audit chain.
func testSettings(t *testing.T, s store.Store) {
	if _, err := s.Setting(ctx(t), store.SettingPublicURL); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Setting on an empty store: %v, want ErrNotFound", err)
	}
	got, err := s.AdoptSetting(ctx(t), store.SettingPublicURL, "http://a.example", ev("public-url.adopt", "http://a.example"))
	if err != nil || got != "http://a.example" {
		t.Fatalf("first AdoptSetting = %q, %v; want the value given", got, err)
	}
	got, err = s.AdoptSetting(ctx(t), store.SettingPublicURL, "http://b.example", ev("public-url.adopt", "http://b.example"))
	if err != nil || got != "http://a.example" {
		t.Fatalf("second AdoptSetting = %q, %v; want the first value kept", got, err)
	}
	old, err := s.ReplaceSetting(ctx(t), store.SettingPublicURL, "http://c.example", ev("public-url.set", "http://c.example"))
	if err != nil || old != "http://a.example" {
		t.Fatalf("ReplaceSetting = %q, %v; want the old value", old, err)
	}
	if v, err := s.Setting(ctx(t), store.SettingPublicURL); err != nil || v != "http://c.example" {
		t.Fatalf("Setting after replace = %q, %v", v, err)
	}
	if old, err := s.ReplaceSetting(ctx(t), "other", "x", ev("other.set", "x")); err != nil || old != "" {
		t.Fatalf("ReplaceSetting of a new name = %q, %v; want \"\"", old, err)
	}
	if a := actions(Entries(t, s)); !slices.Equal(a, []string{"public-url.adopt http://a.example", "public-url.set http://c.example", "other.set x"}) {
		t.Errorf("audit actions %v, want one adopt and two sets", a)
	}
	verifyAudit(t, s, 3)
}

// testAdoptSettingRace: processes adopting at once all end up with the
// same value, and exactly one adoption is audited.
func testAdoptSettingRace(t *testing.T, s store.Store) {
	const n = 8
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v := "http://" + Serial(i) + ".example"
			got[i], errs[i] = s.AdoptSetting(ctx(t), store.SettingPublicURL, v, ev("public-url.adopt", v))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("adopter %d got %q, %v; adopter 0 got %q", i, got[i], errs[i], got[0])
		}
	}
	verifyAudit(t, s, 1)
}
