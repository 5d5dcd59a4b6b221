package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// Entries returns the whole audit log.
func Entries(t *testing.T, s store.Store) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	if err := s.WalkAudit(ctx(t), func(e store.AuditEntry) error { out = append(out, e); return nil }); err != nil {
		t.Fatalf("WalkAudit: %v", err)
	}
	return out
}

func verifyAudit(t *testing.T, s store.Store, want int64) {
	t.Helper()
	n, err := store.VerifyAudit(ctx(t), s)
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	if n != want {
		t.Fatalf("VerifyAudit checked %d entries, want %d", n, want)
	}
}

func actions(es []store.AuditEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Action+" "+e.Object)
	}
	return out
}

func testNextCRLNumber(t *testing.T, s store.Store) {
	for _, step := range []struct {
		issuer string
		want   int64
	}{{"services", 1}, {"services", 2}, {"codesign", 1}, {"services", 3}, {"codesign", 2}} {
		got, err := s.NextCRLNumber(ctx(t), step.issuer)
		if err != nil {
			t.Fatalf("NextCRLNumber(%s): %v", step.issuer, err)
		}
		if got != step.want {
			t.Fatalf("NextCRLNumber(%s) = %d, want %d", step.issuer, got, step.want)
		}
	}
}

func testNextCRLNumberConcurrent(t *testing.T, s store.Store) {
	const workers, each = 8, 10
	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				n, err := s.NextCRLNumber(ctx(t), "services")
				if err != nil {
					t.Errorf("NextCRLNumber: %v", err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("CRL numbers handed out concurrently: %v, want 1..%d each once", got, workers*each)
		}
	}
}

func testAuditChain(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC-7", -7*3600)
	events := []store.AuditEvent{
		{Time: base.Add(1), Actor: "system", Action: "init", Object: "root", Result: "ok"},
		{Time: base.Add(time.Second + 999).In(zone), Actor: "operator:alice", Action: "issue.refused", Object: "argus", Result: "name not allowed: evil.example"},
		{Time: base.Add(time.Minute), Actor: "", Action: "", Object: "", Result: ""},
		{Actor: "acme:https://ca/acct/1", Action: "revoke", Object: "0a0b", Result: "ok"}, // zero time: the store stamps it
	}
	before := time.Now()
	for _, e := range events {
		if err := s.AppendAudit(ctx(t), e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	after := time.Now()
	got := Entries(t, s)
	if len(got) != len(events) {
		t.Fatalf("WalkAudit returned %d entries, want %d", len(got), len(events))
	}
	prev := store.ZeroHash
	for i, e := range got {
		w := events[i]
		if e.Seq != int64(i+1) {
			t.Errorf("entry %d has Seq %d", i, e.Seq)
		}
		if e.Actor != w.Actor || e.Action != w.Action || e.Object != w.Object || e.Result != w.Result {
			t.Errorf("entry %d: got %+v, want %+v", e.Seq, e.AuditEvent, w)
		}
		if w.Time.IsZero() {
			if e.Time.Before(before.Add(-time.Second)) || e.Time.After(after.Add(time.Second)) {
				t.Errorf("entry %d: zero event time stored as %v, want about now", e.Seq, e.Time)
			}
		} else if !e.Time.Equal(w.Time) {
			t.Errorf("entry %d: time %v, want %v", e.Seq, e.Time, w.Time)
		}
		if !bytes.Equal(e.PrevHash, prev) {
			t.Errorf("entry %d: PrevHash does not link to entry %d", e.Seq, e.Seq-1)
		}
		if !bytes.Equal(e.Hash, store.ChainHash(e.Seq, e.PrevHash, e.AuditEvent)) {
			t.Errorf("entry %d: stored hash is not ChainHash of the read-back entry", e.Seq)
		}
		prev = e.Hash
	}
	verifyAudit(t, s, int64(len(events)))
}

// testAuditFromWrites checks that every write taking an event puts it in
// the same chain, in the order of the writes.
func testAuditFromWrites(t *testing.T, s store.Store) {
	c := Cert(Serial(1), "services", "argus", day(0), day(10))
	mustInsert(t, s, c)
	if err := s.Revoke(ctx(t), c.Serial, day(1), 1, ev("revoke", c.Serial)); err != nil {
		t.Fatal(err)
	}
	keys, cas := hierarchy()
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatal(err)
	}
	k := store.KeyRecord{ID: "key-https-2", Algorithm: "ecdsa-p256", Sealed: DER(48)}
	https := store.CARecord{Name: "https", Role: "https", Parent: "services", KeyID: k.ID, DER: DER(300), CreatedAt: day(5)}
	if err := s.PutCA(ctx(t), k, https, ev("renew", "https")); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx(t), ev("admin", "audit verify")); err != nil {
		t.Fatal(err)
	}
	want := []string{"issue " + c.Serial, "revoke " + c.Serial, "init hierarchy", "renew https", "admin audit verify"}
	if got := actions(Entries(t, s)); !slices.Equal(got, want) {
		t.Errorf("audit log %q, want %q", got, want)
	}
	verifyAudit(t, s, int64(len(want)))
}

func testWalkAuditStops(t *testing.T, s store.Store) {
	for i := range 3 {
		if err := s.AppendAudit(ctx(t), ev("admin", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := s.WalkAudit(ctx(t), func(store.AuditEntry) error { calls++; return stop })
	wantErr(t, "WalkAudit with failing fn", err, stop)
	if calls != 1 {
		t.Errorf("fn called %d times after returning an error", calls)
	}
}

// hierarchy is a small CA hierarchy with root, intermediates and their keys.
func hierarchy() ([]store.KeyRecord, []store.CARecord) {
	keys := []store.KeyRecord{
		{ID: "key-root", Algorithm: "ecdsa-p384", Sealed: DER(80)},
		{ID: "key-services", Algorithm: "ecdsa-p256", Sealed: DER(60)},
		{ID: "key-https", Algorithm: "ecdsa-p256", Sealed: DER(60)},
		{ID: "kek", Algorithm: "argon2id", Sealed: []byte("t=3,m=65536,p=4;salt")},
	}
	cas := []store.CARecord{
		{Name: "root", Role: "root", KeyID: "key-root", DER: DER(500), CreatedAt: day(0)},
		{Name: "services", Role: "intermediate", Parent: "root", KeyID: "key-services", DER: DER(500), CreatedAt: day(0).Add(1)},
		{Name: "https", Role: "https", Parent: "services", KeyID: "key-https", DER: DER(400), CreatedAt: day(0).Add(2)},
	}
	return keys, cas
}

func equalCA(t *testing.T, got, want store.CARecord) {
	t.Helper()
	if got.Name != want.Name || got.Role != want.Role || got.Parent != want.Parent || got.KeyID != want.KeyID ||
		!bytes.Equal(got.DER, want.DER) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("CA record:\n got  %+v\n want %+v", got, want)
	}
}

func mustCAs(t *testing.T, s store.Store) []store.CARecord {
	t.Helper()
	got, err := s.CAs(ctx(t))
	if err != nil {
		t.Fatalf("CAs: %v", err)
	}
	return got
}

func testCreateHierarchy(t *testing.T, s store.Store) {
	if got := mustCAs(t, s); len(got) != 0 {
		t.Fatalf("new store has CA records: %+v", got)
	}
	keys, cas := hierarchy()
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatalf("CreateHierarchy: %v", err)
	}
	got := mustCAs(t, s)
	if len(got) != len(cas) {
		t.Fatalf("CAs returned %d records, want %d", len(got), len(cas))
	}
	for i := range cas {
		equalCA(t, got[i], cas[i])
	}
	for _, k := range keys {
		g, err := s.Key(ctx(t), k.ID)
		if err != nil {
			t.Fatalf("Key(%s): %v", k.ID, err)
		}
		if g.ID != k.ID || g.Algorithm != k.Algorithm || !bytes.Equal(g.Sealed, k.Sealed) {
			t.Errorf("Key(%s) = %+v, want %+v", k.ID, g, k)
		}
	}
	verifyAudit(t, s, 1)
}

func testCreateHierarchyTwice(t *testing.T, s store.Store) {
	keys, cas := hierarchy()
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatal(err)
	}
	other := store.KeyRecord{ID: "key-root-2", Algorithm: "ecdsa-p384", Sealed: DER(80)}
	err := s.CreateHierarchy(ctx(t), []store.KeyRecord{other},
		[]store.CARecord{{Name: "root2", Role: "root", KeyID: other.ID, DER: DER(10), CreatedAt: day(1)}},
		ev("init", "hierarchy"))
	wantErr(t, "second CreateHierarchy", err, store.ErrConflict)
	// Nothing of the refused call may remain.
	_, err = s.Key(ctx(t), other.ID)
	wantErr(t, "Key of refused hierarchy", err, store.ErrNotFound)
	if got := mustCAs(t, s); len(got) != len(cas) {
		t.Errorf("CAs after refused CreateHierarchy: %d records, want %d", len(got), len(cas))
	}
	verifyAudit(t, s, 1)
}

func testCreateHierarchyRace(t *testing.T, s store.Store) {
	const racers = 4
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			k := store.KeyRecord{ID: fmt.Sprintf("key-root-%d", i), Algorithm: "ecdsa-p384", Sealed: DER(80)}
			ca := store.CARecord{Name: "root", Role: "root", KeyID: k.ID, DER: DER(100), CreatedAt: day(0)}
			errs[i] = s.CreateHierarchy(ctx(t), []store.KeyRecord{k}, []store.CARecord{ca}, ev("init", k.ID))
		})
	}
	wg.Wait()
	exactlyOneWins(t, "concurrent CreateHierarchy calls", errs)
	verifyAudit(t, s, 1)
}

func testPutCAReplaces(t *testing.T, s store.Store) {
	keys, cas := hierarchy()
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatal(err)
	}
	k := store.KeyRecord{ID: "key-https-2", Algorithm: "ecdsa-p256", Sealed: DER(60)}
	https := store.CARecord{Name: "https", Role: "https", Parent: "services", KeyID: k.ID, DER: DER(420), CreatedAt: day(30)}
	if err := s.PutCA(ctx(t), k, https, ev("renew", "https")); err != nil {
		t.Fatalf("PutCA: %v", err)
	}
	got := mustCAs(t, s)
	if len(got) != len(cas) {
		t.Fatalf("CAs after PutCA: %d records, want %d (replaced, not added)", len(got), len(cas))
	}
	equalCA(t, got[0], cas[0])
	equalCA(t, got[1], cas[1])
	equalCA(t, got[2], https)
	if g, err := s.Key(ctx(t), k.ID); err != nil || !bytes.Equal(g.Sealed, k.Sealed) {
		t.Errorf("Key(%s) after PutCA = %+v, %v", k.ID, g, err)
	}
	// A CA name not seen before is inserted.
	k2 := store.KeyRecord{ID: "key-tsa", Algorithm: "ecdsa-p256", Sealed: DER(60)}
	tsa := store.CARecord{Name: "tsa", Role: "tsa", Parent: "services", KeyID: k2.ID, DER: DER(300), CreatedAt: day(31)}
	if err := s.PutCA(ctx(t), k2, tsa, ev("create", "tsa")); err != nil {
		t.Fatalf("PutCA(new name): %v", err)
	}
	if got := mustCAs(t, s); len(got) != len(cas)+1 {
		t.Errorf("CAs after PutCA(new name): %d records, want %d", len(got), len(cas)+1)
	}
	verifyAudit(t, s, 3)
}

func testCAsOrder(t *testing.T, s store.Store) {
	var keys []store.KeyRecord
	var cas []store.CARecord
	// Given out of order; CreatedAt ties are broken by Name.
	for _, c := range []struct {
		name string
		at   time.Time
	}{{"zeta", day(0)}, {"beta", day(2)}, {"alpha", day(2)}, {"omega", day(-1)}, {"mu", day(0).Add(1)}} {
		keys = append(keys, store.KeyRecord{ID: "key-" + c.name, Algorithm: "ed25519", Sealed: DER(40)})
		cas = append(cas, store.CARecord{Name: c.name, Role: "intermediate", Parent: "root", KeyID: "key-" + c.name, DER: DER(50), CreatedAt: c.at})
	}
	if err := s.CreateHierarchy(ctx(t), keys, cas, ev("init", "hierarchy")); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ca := range mustCAs(t, s) {
		names = append(names, ca.Name)
	}
	if want := []string{"omega", "zeta", "mu", "alpha", "beta"}; !slices.Equal(names, want) {
		t.Errorf("CAs order %v, want %v", names, want)
	}
}

func testKeyNotFound(t *testing.T, s store.Store) {
	_, err := s.Key(ctx(t), "no-such-key")
	wantErr(t, "Key(unknown)", err, store.ErrNotFound)
}

func testConcurrentInserts(t *testing.T, s store.Store) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				c := Cert(Serial(w*each+i), "services", "argus", day(0), day(w+1))
				c.DER = DER(1024)
				if err := s.InsertCertificate(ctx(t), c, ev("issue", c.Serial)); err != nil {
					t.Errorf("InsertCertificate(%s): %v", c.Serial, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got, err := s.Certificates(ctx(t), store.CertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != workers*each {
		t.Errorf("stored %d certificates, want %d", len(got), workers*each)
	}
	verifyAudit(t, s, workers*each)
}

// exactlyOneWins checks the outcome of racing writes of one object: one
// succeeded, every other got store.ErrConflict.
func exactlyOneWins(t *testing.T, what string, errs []error) {
	t.Helper()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: unexpected error %v", what, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d %s succeeded, want exactly 1", ok, len(errs), what)
	}
}
