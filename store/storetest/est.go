package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/vcc/vccpki/store"
)

// ESTStore is what the EST contract suite needs: the credentials and the
// audit log they are recorded in.
type ESTStore interface {
	store.Store
	store.ESTStore
}

// RunEST runs the contract suite of store.ESTStore. open must return a
// new, empty store for each call.
func RunEST(t *testing.T, open func(t *testing.T) ESTStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ESTStore)
	}{
		{"AddAndGet", testESTAddAndGet},
		{"Unknown", testESTUnknown},
		{"Duplicate", testESTDuplicate},
		{"ConcurrentAdd", testESTConcurrentAdd},
		{"ListAndRemove", testESTListAndRemove},
		{"Grants", testESTGrants},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func estUser(name string) store.ESTUser {
	return store.ESTUser{User: name, Service: "argus", Hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", CreatedAt: base, Org: store.OperatorOrg}
}

func estEvent(name string) store.AuditEvent {
	return store.AuditEvent{Time: base, Actor: "operator:test", Action: "est.user.add", Object: name, Result: "ok: service argus"}
}

func testESTAddAndGet(t *testing.T, s ESTStore) {
	ctx := t.Context()
	want := estUser("device-1")
	if err := s.AddESTUser(ctx, want, estEvent("device-1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.ESTUser(ctx, "device-1")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("ESTUser = %+v; want %+v", got, want)
	}
	var actions []string
	if err := s.WalkAudit(ctx, func(e store.AuditEntry) error { actions = append(actions, e.Action+" "+e.Object); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(actions) != 1 || actions[0] != "est.user.add device-1" {
		t.Errorf("audit log = %q; want the one est.user.add entry", actions)
	}
}

func testESTUnknown(t *testing.T, s ESTStore) {
	if _, err := s.ESTUser(t.Context(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ESTUser(nobody) error = %v; want ErrNotFound", err)
	}
}

func testESTDuplicate(t *testing.T, s ESTStore) {
	ctx := t.Context()
	if err := s.AddESTUser(ctx, estUser("dup"), estEvent("dup")); err != nil {
		t.Fatal(err)
	}
	other := estUser("dup")
	other.Service, other.Hash = "clara", "$2a$10$other"
	if err := s.AddESTUser(ctx, other, estEvent("dup")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second AddESTUser error = %v; want ErrConflict", err)
	}
	got, err := s.ESTUser(ctx, "dup")
	if err != nil || got.Service != "argus" {
		t.Errorf("after the refused add: %+v, %v; want the first credentials", got, err)
	}
	n := 0
	_ = s.WalkAudit(ctx, func(store.AuditEntry) error { n++; return nil })
	if n != 1 {
		t.Errorf("audit entries = %d; the refused add must not write one", n)
	}
}

func testESTConcurrentAdd(t *testing.T, s ESTStore) {
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.AddESTUser(ctx, estUser("same"), estEvent("same"))
		}()
	}
	wg.Wait()
	exactlyOneWins(t, "concurrent adds of one user", errs)
}

func testESTListAndRemove(t *testing.T, s ESTStore) {
	ctx := t.Context()
	for _, name := range []string{"device-2", "device-1"} {
		if err := s.AddESTUser(ctx, estUser(name), estEvent(name)); err != nil {
			t.Fatal(err)
		}
	}
	users, err := s.ESTUsers(ctx)
	if err != nil || len(users) != 2 || users[0].User != "device-1" || users[0].Hash != "" || users[1].Service != "argus" || !users[1].CreatedAt.Equal(base) {
		t.Fatalf("ESTUsers = %+v, %v", users, err)
	}
	rm := store.AuditEvent{Time: base, Actor: "operator:test", Action: "est.user.remove", Object: "device-1", Result: "ok"}
	if err := s.RemoveESTUser(ctx, "device-1", rm); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ESTUser(ctx, "device-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a removed user is still there: %v", err)
	}
	if err := s.RemoveESTUser(ctx, "device-1", rm); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing twice: %v, want ErrNotFound", err)
	}
	if n, err := store.VerifyAudit(ctx, s); err != nil || n != 3 {
		t.Fatalf("audit log: %d entries, %v; want 2 additions and 1 removal", n, err)
	}
}
