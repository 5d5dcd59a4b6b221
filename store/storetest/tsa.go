package storetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// RunTimestamps runs the contract suite of store.TimestampStore. open must
// return a new, empty store for each call; share must open a second handle
// on the same database as s, as a second process or server instance would.
// Both close when the test ends (t.Cleanup).
func RunTimestamps(t *testing.T, open func(t *testing.T) store.TimestampStore, share func(t *testing.T, s store.TimestampStore) store.TimestampStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.TimestampStore)
	}{
		{"RecordRoundTrip", testTokenRoundTrip},
		{"DuplicateSerial", testTokenDuplicate},
		{"UnknownSerial", testTokenUnknown},
		{"ByImprint", testTokensByImprint},
		{"InvalidRecord", testTokenInvalid},
		{"ReserveBlocks", testReserveBlocks},
		{"ReserveShared", func(t *testing.T, s store.TimestampStore) { testReserveShared(t, s, share(t, s)) }},
		{"RecordShared", func(t *testing.T, s store.TimestampStore) { testRecordShared(t, s, share(t, s)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// Token returns a valid record for tests and benchmarks.
func Token(serial int64, data string) store.TimestampRecord {
	sum := sha256.Sum256([]byte(data))
	return store.TimestampRecord{Serial: serial, Time: base.Add(time.Duration(serial) * time.Microsecond),
		Hash: "sha256", Imprint: sum[:], Policy: "2.25.1"}
}

func equalToken(t *testing.T, got, want store.TimestampRecord) {
	t.Helper()
	if got.Serial != want.Serial || !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC ||
		got.Hash != want.Hash || !bytes.Equal(got.Imprint, want.Imprint) || got.Policy != want.Policy {
		t.Fatalf("record differs:\n got  %+v\n want %+v", got, want)
	}
}

func testTokenRoundTrip(t *testing.T, s store.TimestampStore) {
	zone := time.FixedZone("UTC-3", -3*3600) // stores must not depend on the caller's zone
	want := store.TimestampRecord{Serial: 1 << 40, Time: base.In(zone), Hash: "sha512",
		Imprint: bytes.Repeat([]byte{0xab}, 64), Policy: "2.25.329800735698586629295641978511506172918"}
	if err := s.RecordTimestamp(ctx(t), want); err != nil {
		t.Fatal(err)
	}
	got, err := s.TimestampBySerial(ctx(t), want.Serial)
	if err != nil {
		t.Fatal(err)
	}
	equalToken(t, got, want)
}

func testTokenDuplicate(t *testing.T, s store.TimestampStore) {
	if err := s.RecordTimestamp(ctx(t), Token(7, "a")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "second record of serial 7", s.RecordTimestamp(ctx(t), Token(7, "b")), store.ErrConflict)
	got, err := s.TimestampBySerial(ctx(t), 7)
	if err != nil {
		t.Fatal(err)
	}
	equalToken(t, got, Token(7, "a")) // the first one stays
}

func testTokenUnknown(t *testing.T, s store.TimestampStore) {
	_, err := s.TimestampBySerial(ctx(t), 99)
	wantErr(t, "unknown serial", err, store.ErrNotFound)
}

func testTokensByImprint(t *testing.T, s store.TimestampStore) {
	a1, other, a2 := Token(3, "artefact"), Token(4, "other"), Token(9, "artefact")
	a2.Hash = "sha384" // the same bytes under another algorithm still match
	for _, r := range []store.TimestampRecord{a2, other, a1} {
		if err := s.RecordTimestamp(ctx(t), r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.TimestampsByImprint(ctx(t), a1.Imprint)
	if err != nil || len(got) != 2 {
		t.Fatalf("TimestampsByImprint: %d records, %v; want 2", len(got), err)
	}
	equalToken(t, got[0], a1) // oldest (lowest serial) first
	equalToken(t, got[1], a2)
	none, err := s.TimestampsByImprint(ctx(t), []byte("never stamped"))
	if err != nil || len(none) != 0 {
		t.Fatalf("unknown imprint: %v, %v; want no records and no error", none, err)
	}
}

func testTokenInvalid(t *testing.T, s store.TimestampStore) {
	for name, mutate := range map[string]func(*store.TimestampRecord){
		"zero serial":     func(r *store.TimestampRecord) { r.Serial = 0 },
		"negative serial": func(r *store.TimestampRecord) { r.Serial = -1 },
		"no imprint":      func(r *store.TimestampRecord) { r.Imprint = nil },
		"no hash":         func(r *store.TimestampRecord) { r.Hash = "" },
		"no policy":       func(r *store.TimestampRecord) { r.Policy = "" },
		"no time":         func(r *store.TimestampRecord) { r.Time = time.Time{} },
		"time too late":   func(r *store.TimestampRecord) { r.Time = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		r := Token(5, name)
		mutate(&r)
		if err := s.RecordTimestamp(ctx(t), r); err == nil {
			t.Errorf("%s: recorded, want an error", name)
		}
	}
	_, err := s.TimestampBySerial(ctx(t), 5)
	wantErr(t, "after refused records", err, store.ErrNotFound)
	for _, n := range []int64{0, -5} {
		if _, err := s.ReserveTimestampSerials(ctx(t), n); err == nil {
			t.Errorf("ReserveTimestampSerials(%d): no error", n)
		}
	}
}

func testReserveBlocks(t *testing.T, s store.TimestampStore) {
	first, err := s.ReserveTimestampSerials(ctx(t), 10)
	if err != nil || first < 1 {
		t.Fatalf("first reservation: %d, %v; want a positive serial", first, err)
	}
	second, err := s.ReserveTimestampSerials(ctx(t), 1)
	if err != nil || second < first+10 {
		t.Fatalf("second reservation: %d, %v; want at least %d", second, err, first+10)
	}
	third, err := s.ReserveTimestampSerials(ctx(t), 1000)
	if err != nil || third < second+1 {
		t.Fatalf("third reservation: %d, %v; want at least %d", third, err, second+1)
	}
}

type span struct{ first, n int64 }

// testReserveShared: two handles on one database reserve at once; no two
// blocks overlap.
func testReserveShared(t *testing.T, a, b store.TimestampStore) {
	var (
		mu    sync.Mutex
		spans []span
		wg    sync.WaitGroup
	)
	for k, s := range []store.TimestampStore{a, b} {
		for w := range 4 {
			wg.Go(func() {
				for i := range 10 {
					n := int64(1 + (k*7+w*3+i)%50)
					first, err := s.ReserveTimestampSerials(ctx(t), n)
					if err != nil {
						t.Errorf("handle %d: reserve %d: %v", k, n, err)
						return
					}
					mu.Lock()
					spans = append(spans, span{first, n})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	slices.SortFunc(spans, func(x, y span) int { return int(x.first - y.first) })
	for i := 1; i < len(spans); i++ {
		if prev := spans[i-1]; prev.first+prev.n > spans[i].first {
			t.Fatalf("blocks overlap: [%d, %d) and [%d, %d)", prev.first, prev.first+prev.n, spans[i].first, spans[i].first+spans[i].n)
		}
	}
	if len(spans) != 80 {
		t.Fatalf("%d reservations, want 80", len(spans))
	}
}

// testRecordShared: many concurrent records through two handles all land.
func testRecordShared(t *testing.T, a, b store.TimestampStore) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for k, s := range []store.TimestampStore{a, b} {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					serial := int64((k*workers+w)*each + i + 1)
					if err := s.RecordTimestamp(ctx(t), Token(serial, fmt.Sprint(serial))); err != nil {
						t.Errorf("handle %d: record %d: %v", k, serial, err)
					}
				}
			})
		}
	}
	wg.Wait()
	for serial := int64(1); serial <= 2*workers*each; serial++ {
		got, err := b.TimestampBySerial(ctx(t), serial)
		if err != nil {
			t.Fatalf("serial %d: %v", serial, err)
		}
		equalToken(t, got, Token(serial, fmt.Sprint(serial)))
	}
}
