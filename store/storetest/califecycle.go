package storetest

import (
	"slices"
	"testing"

	"github.com/vcc/vccpki/store"
)

// testAddCAs: a new issuing CA and its responder are stored with their
// keys in one transaction; a taken name is a conflict that stores
// nothing of the batch.
func testAddCAs(t *testing.T, s store.Store) {
	keys, cas := hierarchy()
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatal(err)
	}
	newKeys := []store.KeyRecord{{ID: "key-ext", Algorithm: "ecdsa-p384", Sealed: DER(60)}, {ID: "key-ocsp-ext", Algorithm: "ecdsa-p256", Sealed: DER(60)}}
	newCAs := []store.CARecord{
		{Name: "ext", Role: "intermediate", Parent: "root", KeyID: "key-ext", DER: DER(500), CreatedAt: day(1)},
		{Name: "ocsp-ext", Role: "ocsp", Parent: "ext", KeyID: "key-ocsp-ext", DER: DER(300), CreatedAt: day(1).Add(1)},
	}
	if err := s.AddCAs(ctx(t), newKeys, newCAs, ev("ca.create", "ext")); err != nil {
		t.Fatalf("AddCAs: %v", err)
	}
	got := mustCAs(t, s)
	if len(got) != len(cas)+2 {
		t.Fatalf("CAs returned %d records, want %d", len(got), len(cas)+2)
	}
	equalCA(t, got[len(got)-2], newCAs[0])
	equalCA(t, got[len(got)-1], newCAs[1])

	// "services" is taken: nothing of this batch is stored.
	clash := []store.CARecord{
		{Name: "partner", Role: "intermediate", Parent: "ext", KeyID: "key-ext", DER: DER(500), CreatedAt: day(2)},
		{Name: "services", Role: "intermediate", Parent: "root", KeyID: "key-ext", DER: DER(500), CreatedAt: day(2)},
	}
	wantErr(t, "AddCAs with a taken name", s.AddCAs(ctx(t), nil, clash, ev("ca.create", "partner")), store.ErrConflict)
	if n := len(mustCAs(t, s)); n != len(cas)+2 {
		t.Errorf("after the refused AddCAs the store holds %d CA records, want %d", n, len(cas)+2)
	}
	if got := actions(Entries(t, s)); !slices.Equal(got, []string{"init hierarchy", "ca.create ext"}) {
		t.Errorf("audit log %q", got)
	}
	verifyAudit(t, s, 2)
}

// testRevokeCA: the revocation is recorded once, survives a PutCA of
// another record, and unknown or revoked names are refused.
func testRevokeCA(t *testing.T, s store.Store) {
	keys, cas := hierarchy()
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatal(err)
	}
	for _, r := range mustCAs(t, s) {
		if !r.RevokedAt.IsZero() || r.RevocationReason != 0 {
			t.Fatalf("new CA record %s is revoked: %+v", r.Name, r)
		}
	}
	at := day(3)
	if err := s.RevokeCA(ctx(t), "services", at, 2, ev("ca.revoke", "services")); err != nil {
		t.Fatalf("RevokeCA: %v", err)
	}
	wantErr(t, "RevokeCA twice", s.RevokeCA(ctx(t), "services", day(4), 1, ev("ca.revoke", "services")), store.ErrConflict)
	wantErr(t, "RevokeCA of an unknown CA", s.RevokeCA(ctx(t), "nope", day(4), 1, ev("ca.revoke", "nope")), store.ErrNotFound)
	k := store.KeyRecord{ID: "key-https-2", Algorithm: "ecdsa-p256", Sealed: DER(48)}
	if err := s.PutCA(ctx(t), k, store.CARecord{Name: "https", Role: "https", Parent: "services", KeyID: k.ID, DER: DER(300), CreatedAt: day(5)}, ev("renew", "https")); err != nil {
		t.Fatal(err)
	}
	for _, r := range mustCAs(t, s) {
		revoked := r.Name == "services"
		if revoked != !r.RevokedAt.IsZero() {
			t.Errorf("CA %s: RevokedAt %v", r.Name, r.RevokedAt)
		}
		if revoked && (!r.RevokedAt.Equal(at) || r.RevocationReason != 2) {
			t.Errorf("CA %s revoked at %v reason %d, want %v reason 2", r.Name, r.RevokedAt, r.RevocationReason, at)
		}
	}
	if got := actions(Entries(t, s)); !slices.Equal(got, []string{"init hierarchy", "ca.revoke services", "renew https"}) {
		t.Errorf("audit log %q", got)
	}
}
