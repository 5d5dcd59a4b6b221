package ca_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// TestListAndRevokeAll: a listing in pages of two sees what one page
// sees; RevokeAll revokes exactly the valid certificates of one profile,
// and a dry run revokes none.
func TestListAndRevokeAll(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := t.Context()
	for i := range 5 {
		profile, name := "argus", fmt.Sprintf("h%d.argus.test", i)
		if i >= 3 {
			profile, name = "clara", fmt.Sprintf("h%d.clara.test", i)
		}
		if _, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: profile, CSR: makeCSR(t, csrSpec{dns: []string{name}}), Requester: operator()}); err != nil {
			t.Fatalf("issue %s: %v", name, err)
		}
	}
	list := func(page int, filter store.CertFilter) (serials, statuses []string) {
		t.Helper()
		pages := 0
		err := ca.ListCertificates(ctx, f.store, filter, page, time.Now(), func(c store.Certificate, status string) error {
			serials, statuses = append(serials, c.Serial), append(statuses, status)
			return nil
		}, func() error { pages++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if want := len(serials)/page + 1; pages != want {
			t.Errorf("%d pages of %d for %d certificates, want %d", pages, page, len(serials), want)
		}
		return serials, statuses
	}
	whole, _ := list(1000, store.CertFilter{})
	paged, _ := list(2, store.CertFilter{})
	if len(whole) != 5 || !slices.Equal(whole, paged) {
		t.Fatalf("one page %v, pages of two %v", whole, paged)
	}

	var dry []string
	n, err := f.engine.RevokeAll(ctx, store.CertFilter{Profile: "argus", ValidAt: time.Now()}, ca.Superseded, operator(), true, func(c store.Certificate) { dry = append(dry, c.Serial) })
	if err != nil || n != 0 || len(dry) != 3 {
		t.Fatalf("dry run: %d revoked, %d listed, %v", n, len(dry), err)
	}
	n, err = f.engine.RevokeAll(ctx, store.CertFilter{Profile: "argus", ValidAt: time.Now()}, ca.Superseded, operator(), false, func(store.Certificate) {})
	if err != nil || n != 3 {
		t.Fatalf("RevokeAll: %d, %v", n, err)
	}
	_, statuses := list(1000, store.CertFilter{Profile: "argus"})
	if !slices.Equal(statuses, []string{"revoked", "revoked", "revoked"}) {
		t.Errorf("argus after RevokeAll: %v", statuses)
	}
	if _, statuses = list(1000, store.CertFilter{Profile: "clara"}); !slices.Equal(statuses, []string{"valid", "valid"}) {
		t.Errorf("clara after RevokeAll of argus: %v", statuses)
	}
	// Already revoked certificates are skipped, not revoked twice.
	if n, err = f.engine.RevokeAll(ctx, store.CertFilter{Profile: "argus"}, ca.Superseded, operator(), false, func(store.Certificate) {}); err != nil || n != 0 {
		t.Errorf("second RevokeAll: %d, %v", n, err)
	}
}
