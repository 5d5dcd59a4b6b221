package postgres

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/vcc/vccpki/store"
)

// TestReplaceKey checks the rekey contract main's storetest.RunRekey
// holds the stores to (after the merge, run that suite here instead).
func TestReplaceKey(t *testing.T) {
	s := openNew(t)
	k := store.KeyRecord{ID: "kek", Algorithm: "argon2id", Sealed: []byte("v1")}
	ca := store.CARecord{Name: "root", Role: "root", KeyID: k.ID, DER: []byte{1}}
	if err := s.CreateHierarchy(t.Context(), []store.KeyRecord{k}, []store.CARecord{ca}, ev("init", "h")); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceKey(t.Context(), "kek", []byte("stale"), []byte("x"), ev("rekey", "kek")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale prev: %v, want ErrConflict", err)
	}
	if err := s.ReplaceKey(t.Context(), "nope", []byte("a"), []byte("b"), ev("rekey", "nope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.ReplaceKey(t.Context(), "kek", []byte("v1"), []byte{'v', byte('2' + i)}, ev("rekey", "kek"))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("racing rekey: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing rekeys won, want 1", won)
	}
	got, err := s.Key(t.Context(), "kek")
	if err != nil || got.Algorithm != "argon2id" || bytes.Equal(got.Sealed, []byte("v1")) {
		t.Fatalf("after the rekey: %+v, %v", got, err)
	}
	if n, err := store.VerifyAudit(t.Context(), s); err != nil || n != 2 {
		t.Fatalf("VerifyAudit = %d, %v; want the init and one rekey", n, err)
	}
}

// TestACMESecretReadOnly: with fresh nil, ACMESecret only reads (main's
// contract for the sealed nonce key).
func TestACMESecretReadOnly(t *testing.T) {
	s := openNew(t)
	if _, err := s.ACMESecret(t.Context(), "absent", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read of an absent secret: %v, want ErrNotFound", err)
	}
	if v, err := s.ACMESecret(t.Context(), "absent", []byte("now")); err != nil || string(v) != "now" {
		t.Fatalf("the read stored something: %q, %v", v, err)
	}
	if v, err := s.ACMESecret(t.Context(), "absent", nil); err != nil || string(v) != "now" {
		t.Fatalf("read: %q, %v", v, err)
	}
}
