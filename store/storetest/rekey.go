package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/vcc/vccpki/store"
)

// RekeyStore is a store under test for the rekey contract: the whole
// store, to create and read key records, plus store.RekeyStore.
type RekeyStore interface {
	store.Store
	store.RekeyStore
}

// RunRekey runs the contract suite of store.RekeyStore. open must return a
// new, empty store for each call.
func RunRekey(t *testing.T, open func(t *testing.T) RekeyStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s RekeyStore)
	}{
		{"ReplaceKey", testReplaceKey},
		{"ReplaceStale", testReplaceStale},
		{"ReplaceUnknown", testReplaceUnknown},
		{"ReplaceRacing", testReplaceRacing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			keys, cas := hierarchy()
			if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
				t.Fatal(err)
			}
			tc.fn(t, s)
		})
	}
}

// kekOf returns a key record of the hierarchy to play the KEK.
func kekOf(t *testing.T, s RekeyStore) store.KeyRecord {
	t.Helper()
	keys, _ := hierarchy()
	k, err := s.Key(ctx(t), keys[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testReplaceKey(t *testing.T, s RekeyStore) {
	k := kekOf(t, s)
	next := DER(77)
	if err := s.ReplaceKey(ctx(t), k.ID, k.Sealed, next, ev("rekey", k.ID)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Key(ctx(t), k.ID)
	if err != nil || !bytes.Equal(got.Sealed, next) || got.Algorithm != k.Algorithm {
		t.Fatalf("after ReplaceKey: %+v %v", got, err)
	}
	verifyAudit(t, s, 2)
}

func testReplaceStale(t *testing.T, s RekeyStore) {
	k := kekOf(t, s)
	stale := append(bytes.Clone(k.Sealed), 1)
	if err := s.ReplaceKey(ctx(t), k.ID, stale, DER(77), ev("rekey", k.ID)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale prev: %v, want ErrConflict", err)
	}
	if got, _ := s.Key(ctx(t), k.ID); !bytes.Equal(got.Sealed, k.Sealed) {
		t.Fatal("a stale replacement changed the record")
	}
	verifyAudit(t, s, 1) // no audit entry for what did not happen
}

func testReplaceUnknown(t *testing.T, s RekeyStore) {
	if err := s.ReplaceKey(ctx(t), "no-such-key", DER(3), DER(4), ev("rekey", "x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
}

func testReplaceRacing(t *testing.T, s RekeyStore) {
	k := kekOf(t, s)
	const racers = 6
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			errs[i] = s.ReplaceKey(ctx(t), k.ID, k.Sealed, DER(100+i), ev("rekey", k.ID))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("racing replace: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing replacements won, want exactly 1", won)
	}
	verifyAudit(t, s, 2)
}
