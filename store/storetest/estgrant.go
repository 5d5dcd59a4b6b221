package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/vcc/vccpki/store"
)

// testESTGrants: a grant is stored with its audit entry, found by profile
// and serial only, replaced by a second grant, listed, and removed once.
func testESTGrants(t *testing.T, s ESTStore) {
	ctx := t.Context()
	ev := func(action string) store.AuditEvent {
		return store.AuditEvent{Time: base, Actor: "operator:alice", Action: action, Object: "vpb 0a1b", Result: "ok"}
	}
	g := store.ESTGrant{Profile: "vpb", Serial: "0a1b", Names: []string{"dev1.vpb.test", "127.0.0.1"}, Actor: "operator:alice", CreatedAt: base}
	if err := s.PutESTGrant(ctx, g, ev("est.grant")); err != nil {
		t.Fatal(err)
	}
	got, err := s.ESTGrant(ctx, "vpb", "0a1b")
	if err != nil || !slices.Equal(got.Names, g.Names) || got.Actor != g.Actor || !got.CreatedAt.Equal(base) {
		t.Fatalf("ESTGrant = %+v, %v; want %+v", got, err, g)
	}
	if _, err := s.ESTGrant(ctx, "default", "0a1b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a grant in another profile: %v, want ErrNotFound", err)
	}
	g.Names = []string{"dev2.vpb.test"}
	if err := s.PutESTGrant(ctx, g, ev("est.grant")); err != nil {
		t.Fatal(err)
	}
	other := store.ESTGrant{Profile: "argus", Serial: "ff", Names: []string{"a.argus.test"}, Actor: "operator:bob", CreatedAt: base}
	if err := s.PutESTGrant(ctx, other, ev("est.grant")); err != nil {
		t.Fatal(err)
	}
	all, err := s.ESTGrants(ctx)
	if err != nil || len(all) != 2 || all[0].Profile != "argus" || !slices.Equal(all[1].Names, []string{"dev2.vpb.test"}) {
		t.Fatalf("ESTGrants = %+v, %v; want argus, then vpb with the replaced names", all, err)
	}
	if err := s.RemoveESTGrant(ctx, "vpb", "0a1b", ev("est.grant.remove")); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveESTGrant(ctx, "vpb", "0a1b", ev("est.grant.remove")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing twice: %v, want ErrNotFound", err)
	}
	if _, err := s.ESTGrant(ctx, "vpb", "0a1b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a removed grant is still there: %v", err)
	}
	if n, err := store.VerifyAudit(ctx, s); err != nil || n != 4 {
		t.Errorf("audit log: %d entries, %v; want 3 grants and 1 removal", n, err)
	}
}
