package org_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/org"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

func open(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestCreate: names are DNS labels, display names one bounded line; a
// refused organisation leaves no row and no audit entry.
func TestCreate(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, org, display string
		want               error
	}{
		{"good", "brandenburg", "Land Brandenburg", nil},
		{"digits and hyphen", "ext-2", "Ext 2", nil},
		{"duplicate", "brandenburg", "again", store.ErrConflict},
		{"uppercase", "Brandenburg", "x", org.ErrInvalid},
		{"leading hyphen", "-x", "x", org.ErrInvalid},
		{"trailing hyphen", "x-", "x", org.ErrInvalid},
		{"dot", "a.b", "x", org.ErrInvalid},
		{"too long", strings.Repeat("a", 64), "x", org.ErrInvalid},
		{"empty", "", "x", org.ErrInvalid},
		{"no display", "nodisplay", "  ", org.ErrInvalid},
		{"two lines", "twolines", "a\nb", org.ErrInvalid},
		{"display too long", "longdisplay", strings.Repeat("ä", 201), org.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := org.Create(ctx, st, tc.org, tc.display, "operator:test", time.Now())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Create(%q, %q) = %v; want %v", tc.org, tc.display, err, tc.want)
			}
		})
	}
	all, err := org.List(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 { // vcc, brandenburg, ext-2
		t.Errorf("%d organisations; want 3: %+v", len(all), all)
	}
	var creates []string
	_ = st.AuditEntries(ctx, store.AuditFilter{Action: "org.create"}, func(e store.AuditEntry) error {
		creates = append(creates, e.Object+"@"+e.Org)
		return nil
	})
	if strings.Join(creates, ",") != "brandenburg@brandenburg,ext-2@ext-2" {
		t.Errorf("org.create entries %v; want one per created organisation, in its own audit view", creates)
	}
}

// TestAddCA: only an issuing CA of the hierarchy can be given, to one
// organisation.
func TestAddCA(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	if err := st.CreateHierarchy(ctx, []store.KeyRecord{{ID: "k1", Algorithm: "x", Sealed: []byte{1}}},
		[]store.CARecord{
			{Name: "root", Role: "root", KeyID: "k1", DER: []byte{1}, CreatedAt: time.Now()},
			{Name: "ext-akme", Role: "intermediate", Parent: "root", KeyID: "k1", DER: []byte{2}, CreatedAt: time.Now()},
			{Name: "ocsp-ext-akme", Role: "ocsp", Parent: "ext-akme", KeyID: "k1", DER: []byte{3}, CreatedAt: time.Now()},
		}, store.AuditEvent{Actor: "test", Action: "init", Object: "hierarchy", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"akme", "bravo"} {
		if _, err := org.Create(ctx, st, o, o, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, org, ca string
		want          error
	}{
		{"issuing CA", "akme", "ext-akme", nil},
		{"again", "akme", "ext-akme", nil},
		{"another's", "bravo", "ext-akme", store.ErrConflict},
		{"not an issuing CA", "bravo", "ocsp-ext-akme", org.ErrInvalid},
		{"the root", "bravo", "root", org.ErrInvalid},
		{"unknown CA", "bravo", "nope", store.ErrNotFound},
		{"unknown organisation", "nope", "ext-akme", store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := org.AddCA(ctx, st, tc.org, tc.ca, "test", time.Now()); !errors.Is(err, tc.want) {
				t.Fatalf("AddCA(%s, %s) = %v; want %v", tc.org, tc.ca, err, tc.want)
			}
		})
	}
	if o, _ := org.Show(ctx, st, "akme"); len(o.CAs) != 1 || o.CAs[0] != "ext-akme" {
		t.Errorf("akme CAs %v", o.CAs)
	}
}
