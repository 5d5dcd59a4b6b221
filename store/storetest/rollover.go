package storetest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/vcc/vccpki/store"
)

// testRolloverCA: a rollover replaces the CA record and its responder,
// keeps the old generation with its retirement time, bumps the
// generation, and refuses a stale generation or an unknown name without
// storing anything; PutCA of the HTTPS certificate keeps working after it.
func testRolloverCA(t *testing.T, s store.Store) {
	keys, cas := hierarchy()
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatal(err)
	}
	if got := mustCAs(t, s)[1]; got.Name != "services" || got.Generation != 1 {
		t.Fatalf("a new CA record is %s generation %d, want services generation 1", got.Name, got.Generation)
	}
	if r, err := s.RetiredCAs(ctx(t)); err != nil || len(r) != 0 {
		t.Fatalf("RetiredCAs before any rollover: %v, %v", r, err)
	}
	newKeys := []store.KeyRecord{{ID: "key-services-2", Algorithm: "ecdsa-p256", Sealed: DER(61)}}
	next := store.CARecord{Name: "services", Role: "intermediate", Parent: "root", KeyID: "key-services-2", DER: DER(501), CreatedAt: day(2), Generation: 2}
	rollEv := ev("ca.rollover", "services")
	rollEv.Time = day(2)
	if err := s.RolloverCA(ctx(t), newKeys, []store.CARecord{next}, rollEv); err != nil {
		t.Fatalf("RolloverCA: %v", err)
	}
	var cur store.CARecord
	for _, r := range mustCAs(t, s) {
		if r.Name == "services" {
			cur = r
		}
	}
	equalCA(t, cur, next)
	if cur.Generation != 2 {
		t.Errorf("after the rollover services is at generation %d, want 2", cur.Generation)
	}
	retired, err := s.RetiredCAs(ctx(t))
	if err != nil || len(retired) != 1 {
		t.Fatalf("RetiredCAs: %v, %v", retired, err)
	}
	equalCA(t, retired[0], cas[1])
	if retired[0].Generation != 1 || !retired[0].RetiredAt.Equal(day(2)) {
		t.Errorf("retired generation %d at %v, want 1 at %v", retired[0].Generation, retired[0].RetiredAt, day(2))
	}

	tests := []struct {
		name string
		rec  store.CARecord
		want error
	}{
		{"stale generation", store.CARecord{Name: "services", Role: "intermediate", Parent: "root", KeyID: "key-services-2", DER: DER(502), CreatedAt: day(3), Generation: 2}, store.ErrConflict},
		{"unknown CA", store.CARecord{Name: "nope", Role: "intermediate", Parent: "root", KeyID: "key-services-2", DER: DER(502), CreatedAt: day(3), Generation: 2}, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := store.KeyRecord{ID: "key-" + tc.name, Algorithm: "ecdsa-p256", Sealed: DER(62)}
			wantErr(t, "RolloverCA", s.RolloverCA(ctx(t), []store.KeyRecord{k}, []store.CARecord{tc.rec}, ev("ca.rollover", tc.rec.Name)), tc.want)
			if _, err := s.Key(ctx(t), k.ID); err == nil {
				t.Errorf("the refused rollover stored its key")
			}
		})
	}
	if r, _ := s.RetiredCAs(ctx(t)); len(r) != 1 {
		t.Errorf("after refused rollovers %d retired generations, want 1", len(r))
	}

	k := store.KeyRecord{ID: "key-https-2", Algorithm: "ecdsa-p256", Sealed: DER(48)}
	https := store.CARecord{Name: "https", Role: "https", Parent: "services", KeyID: k.ID, DER: DER(300), CreatedAt: day(5)}
	if err := s.PutCA(ctx(t), k, https, ev("renew", "https")); err != nil {
		t.Fatal(err)
	}
	for _, r := range mustCAs(t, s) {
		if r.Name == "services" && r.Generation != 2 {
			t.Errorf("PutCA of another record moved services to generation %d", r.Generation)
		}
		if r.Name == "https" {
			equalCA(t, r, https)
		}
	}
	if got := actions(Entries(t, s)); !slices.Equal(got, []string{"init hierarchy", "ca.rollover services", "renew https"}) {
		t.Errorf("audit log %q", got)
	}
	verifyAudit(t, s, 3)
}

// testRolloverCALink: a rolled-over generation's link certificate is
// stored with it, returned by CAs while it is current and by RetiredCAs
// once a later rollover retires it; generation 1 has none.
func testRolloverCALink(t *testing.T, s store.Store) {
	keys, cas := hierarchy()
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatal(err)
	}
	services := func() store.CARecord {
		for _, r := range mustCAs(t, s) {
			if r.Name == "services" {
				return r
			}
		}
		t.Fatal("no services record")
		return store.CARecord{}
	}
	if l := services().LinkDER; l != nil {
		t.Fatalf("generation 1 has a link certificate %x", l)
	}
	links := map[int][]byte{}
	for gen := 2; gen <= 3; gen++ {
		links[gen] = DER(600 + gen)
		k := store.KeyRecord{ID: "key-services-" + string(rune('0'+gen)), Algorithm: "ecdsa-p256", Sealed: DER(60 + gen)}
		next := store.CARecord{Name: "services", Role: "intermediate", Parent: "root", KeyID: k.ID, DER: DER(500 + gen),
			CreatedAt: day(gen), Generation: gen, LinkDER: links[gen]}
		e := ev("ca.rollover", "services")
		e.Time = day(gen)
		if err := s.RolloverCA(ctx(t), []store.KeyRecord{k}, []store.CARecord{next}, e); err != nil {
			t.Fatalf("RolloverCA to generation %d: %v", gen, err)
		}
		if got := services().LinkDER; !bytes.Equal(got, next.LinkDER) {
			t.Errorf("generation %d's link certificate %x, want %x", gen, got, next.LinkDER)
		}
	}
	retired, err := s.RetiredCAs(ctx(t))
	if err != nil || len(retired) != 2 {
		t.Fatalf("RetiredCAs: %v, %v", retired, err)
	}
	tests := []struct {
		name string
		got  store.CARecord
		want []byte
	}{
		{"generation 1", retired[0], nil},
		{"generation 2", retired[1], links[2]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Equal(tc.got.LinkDER, tc.want) || (tc.want == nil) != (tc.got.LinkDER == nil) {
				t.Errorf("retired %s generation %d link certificate %x, want %x", tc.got.Name, tc.got.Generation, tc.got.LinkDER, tc.want)
			}
		})
	}
}
