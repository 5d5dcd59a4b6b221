package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// StatusTestStore is a store with the status side the OCSP responder and
// the CRL builder read.
type StatusTestStore interface {
	store.Store
	store.StatusStore
}

// RunStatus runs the store.StatusStore contract. open must return a new,
// empty store for each call and close it when the test ends.
func RunStatus(t *testing.T, open func(t *testing.T) StatusTestStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s StatusTestStore)
	}{
		{"CertificateStatusesPages", testCertificateStatusesPages},
		{"CertificateStatusesEmpty", testCertificateStatusesEmpty},
		{"RevokedInShard", testRevokedInShard},
		{"RevokedInShardStops", testRevokedInShardStops},
		{"StatusChangesFollow", testStatusChangesFollow},
		{"StatusChangesLimit", testStatusChangesLimit},
		{"PruneStatusChanges", testPruneStatusChanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func shardCert(i int, issuer string, shard int, notAfter time.Time) store.Certificate {
	c := Cert(Serial(i), issuer, "argus", day(0), notAfter)
	c.CRLShard = shard
	return c
}

func testCertificateStatusesPages(t *testing.T, s StatusTestStore) {
	var want []store.CertStatus
	// Inserted in descending serial order, so that insertion order is not
	// the walk's order; pairs share a NotAfter, so the cursor's serial
	// breaks ties; every third is expired at day(5), every fourth revoked.
	for i := 20; i >= 0; i-- {
		issuer := "services"
		if i%5 == 0 {
			issuer = "code-signing"
		}
		notAfter := day(10 + i/2)
		if i%3 == 0 {
			notAfter = day(4)
		}
		c := shardCert(i, issuer, i%4, notAfter)
		mustInsert(t, s, c)
		st := store.CertStatus{Serial: c.Serial, Issuer: issuer, NotAfter: c.NotAfter, CRLShard: c.CRLShard}
		if i%4 == 1 {
			st.RevokedAt, st.Reason = day(2).Add(time.Duration(i)), 1
			if err := s.Revoke(ctx(t), c.Serial, st.RevokedAt, st.Reason, ev("revoke", c.Serial)); err != nil {
				t.Fatal(err)
			}
		}
		if issuer == "services" && i%3 != 0 {
			want = append(want, st)
		}
	}
	// Expected order: NotAfter, then serial; here that is i.
	slices.Reverse(want)

	var got []store.CertStatus
	after := store.StatusCursor{NotAfter: day(5)}
	for pages := 0; ; pages++ {
		page, err := s.CertificateStatuses(ctx(t), "services", after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 4 {
			t.Fatalf("page of %d, limit 4", len(page))
		}
		if len(page) == 0 {
			break
		}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		got = append(got, page...)
		after = page[len(page)-1].Cursor()
	}
	if len(got) != len(want) {
		t.Fatalf("got %d statuses %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Serial != w.Serial || g.Issuer != w.Issuer || !g.NotAfter.Equal(w.NotAfter) || g.CRLShard != w.CRLShard ||
			!g.RevokedAt.Equal(w.RevokedAt) || g.Reason != w.Reason {
			t.Errorf("status %d: got %+v, want %+v", i, g, w)
		}
	}
}

func testCertificateStatusesEmpty(t *testing.T, s StatusTestStore) {
	mustInsert(t, s, shardCert(1, "services", 0, day(3)))
	for name, issuer := range map[string]string{"no such issuer": "nobody", "all expired": "services"} {
		got, err := s.CertificateStatuses(ctx(t), issuer, store.StatusCursor{NotAfter: day(5)}, 10)
		if err != nil || len(got) != 0 {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
}

func testRevokedInShard(t *testing.T, s StatusTestStore) {
	want := map[int][]string{}
	for i := 12; i >= 0; i-- {
		issuer := "services"
		if i == 4 {
			issuer = "code-signing"
		}
		c := shardCert(i, issuer, 1+i%3, day(20))
		mustInsert(t, s, c)
		if i%2 == 0 {
			if err := s.Revoke(ctx(t), c.Serial, day(1), 4, ev("revoke", c.Serial)); err != nil {
				t.Fatal(err)
			}
			if issuer == "services" {
				want[c.CRLShard] = append([]string{c.Serial}, want[c.CRLShard]...)
			}
		}
	}
	var all []string
	for shard := 0; shard <= 3; shard++ {
		all = append(all, want[shard]...)
	}
	want[store.AllShards] = all
	for _, shard := range []int{0, 1, 2, 3, store.AllShards} {
		var got []string
		err := s.RevokedInShard(ctx(t), "services", shard, func(r store.Revoked) error {
			if !r.RevokedAt.Equal(day(1)) || r.Reason != 4 || !r.NotAfter.Equal(day(20)) {
				t.Errorf("shard %d entry %+v", shard, r)
			}
			got = append(got, r.Serial)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want[shard]) {
			t.Errorf("shard %d: got %v, want %v", shard, got, want[shard])
		}
	}
}

func testRevokedInShardStops(t *testing.T, s StatusTestStore) {
	for i := range 4 {
		c := shardCert(i, "services", 2, day(20))
		mustInsert(t, s, c)
		if err := s.Revoke(ctx(t), c.Serial, day(1), 0, ev("revoke", c.Serial)); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.RevokedInShard(ctx(t), "services", 2, func(store.Revoked) error {
		calls++
		return stop
	})
	wantErr(t, "RevokedInShard with failing fn", err, stop)
	if calls != 1 {
		t.Errorf("fn called %d times after returning an error", calls)
	}
}

func testStatusChangesFollow(t *testing.T, s StatusTestStore) {
	last, err := s.LastStatusChange(ctx(t))
	if err != nil || last != 0 {
		t.Fatalf("LastStatusChange of an empty store = %d, %v", last, err)
	}
	a, b := shardCert(1, "services", 3, day(20)), shardCert(2, "code-signing", 0, day(30))
	mustInsert(t, s, a, b)
	changes, err := s.StatusChanges(ctx(t), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].Serial != a.Serial || changes[1].Serial != b.Serial || changes[0].Seq >= changes[1].Seq {
		t.Fatalf("changes after two issuances: %+v", changes)
	}
	if c := changes[0]; c.Issuer != "services" || c.CRLShard != 3 || !c.NotAfter.Equal(day(20)) || !c.RevokedAt.IsZero() {
		t.Errorf("issuance change: %+v", c)
	}
	cursor := changes[1].Seq
	if last, err := s.LastStatusChange(ctx(t)); err != nil || last != cursor {
		t.Errorf("LastStatusChange = %d, %v; want %d", last, err, cursor)
	}
	if more, err := s.StatusChanges(ctx(t), cursor, 100); err != nil || len(more) != 0 {
		t.Fatalf("changes after the last one: %+v, %v", more, err)
	}

	// A failed revocation records nothing; a revocation is one change,
	// carrying the new status.
	if err := s.Revoke(ctx(t), Serial(99), day(2), 1, ev("revoke", Serial(99))); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx(t), a.Serial, day(2), 1, ev("revoke", a.Serial)); err != nil {
		t.Fatal(err)
	}
	more, err := s.StatusChanges(ctx(t), cursor, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(more) != 1 || more[0].Serial != a.Serial || !more[0].RevokedAt.Equal(day(2)) || more[0].Reason != 1 || more[0].Seq <= cursor {
		t.Fatalf("changes after a revocation: %+v", more)
	}
	// Earlier changes report the status as it is now.
	all, err := s.StatusChanges(ctx(t), 0, 100)
	if err != nil || len(all) != 3 || !all[0].RevokedAt.Equal(day(2)) {
		t.Errorf("all changes: %+v, %v", all, err)
	}
}

func testStatusChangesLimit(t *testing.T, s StatusTestStore) {
	for i := range 7 {
		mustInsert(t, s, shardCert(i, "services", 0, day(20)))
	}
	var got []string
	cursor := int64(0)
	for range 10 {
		page, err := s.StatusChanges(ctx(t), cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			got = append(got, c.Serial)
		}
		cursor = page[len(page)-1].Seq
	}
	want := []string{Serial(0), Serial(1), Serial(2), Serial(3), Serial(4), Serial(5), Serial(6)}
	if !slices.Equal(got, want) {
		t.Errorf("paged changes %v, want %v", got, want)
	}
}

func testPruneStatusChanges(t *testing.T, s StatusTestStore) {
	mustInsert(t, s, shardCert(1, "services", 0, day(20)))
	last, err := s.LastStatusChange(ctx(t))
	if err != nil || last == 0 {
		t.Fatalf("LastStatusChange = %d, %v", last, err)
	}
	if err := s.PruneStatusChanges(ctx(t), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kept, _ := s.StatusChanges(ctx(t), 0, 10); len(kept) != 1 {
		t.Errorf("pruning older than an hour removed a fresh change: %+v", kept)
	}
	if err := s.PruneStatusChanges(ctx(t), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kept, _ := s.StatusChanges(ctx(t), 0, 10); len(kept) != 0 {
		t.Errorf("changes left after pruning everything: %+v", kept)
	}
	// The sequence goes on where it was: a reader's cursor stays valid.
	if again, err := s.LastStatusChange(ctx(t)); err != nil || again != last {
		t.Errorf("LastStatusChange after pruning = %d, %v; want %d", again, err, last)
	}
	mustInsert(t, s, shardCert(2, "services", 0, day(20)))
	if next, _ := s.StatusChanges(ctx(t), last, 10); len(next) != 1 || next[0].Seq <= last {
		t.Errorf("change after pruning: %+v", next)
	}
}
