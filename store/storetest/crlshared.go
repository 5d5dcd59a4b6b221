package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// RunSharedCRL runs the contract suite of store.SharedCRLStore. open must
// return a new, empty store for each call.
func RunSharedCRL(t *testing.T, open func(t *testing.T) store.SharedCRLStore) {
	t.Run("HighestNumberWins", func(t *testing.T) { testSharedCRL(t, open(t)) })
}

func sharedCRL(issuer string, shard int, number int64) store.SharedCRL {
	return store.SharedCRL{Issuer: issuer, Shard: shard, Number: number, ThisUpdate: base.Add(time.Duration(number) * time.Minute),
		NextUpdate: base.Add(24 * time.Hour), Entries: int(number) * 10, FromChange: number * 100, DER: DER(300)}
}

func testSharedCRL(t *testing.T, s store.SharedCRLStore) {
	latest := func(issuer string, shard int) store.SharedCRL {
		t.Helper()
		c, err := s.LatestCRL(ctx(t), issuer, shard)
		if err != nil {
			t.Fatalf("LatestCRL(%s, %d): %v", issuer, shard, err)
		}
		return c
	}
	equal := func(got, want store.SharedCRL) {
		t.Helper()
		if got.Issuer != want.Issuer || got.Shard != want.Shard || got.Number != want.Number || !got.ThisUpdate.Equal(want.ThisUpdate) ||
			!got.NextUpdate.Equal(want.NextUpdate) || got.Entries != want.Entries || got.FromChange != want.FromChange || !bytes.Equal(got.DER, want.DER) {
			t.Fatalf("CRL differs:\n got  %+v\n want %+v", got, want)
		}
	}
	_, err := s.LatestCRL(ctx(t), "services", 0)
	wantErr(t, "LatestCRL of nothing", err, store.ErrNotFound)
	five, three, seven := sharedCRL("services", 0, 5), sharedCRL("services", 0, 3), sharedCRL("services", 0, 7)
	shard := sharedCRL("services", 2, 1)
	for _, c := range []store.SharedCRL{five, three, shard} {
		if err := s.PutCRL(ctx(t), c); err != nil {
			t.Fatal(err)
		}
	}
	equal(latest("services", 0), five) // a lower number never replaces a higher one
	equal(latest("services", 2), shard)
	if err := s.PutCRL(ctx(t), seven); err != nil {
		t.Fatal(err)
	}
	equal(latest("services", 0), seven)
	_, err = s.LatestCRL(ctx(t), "root", 0)
	wantErr(t, "LatestCRL of another issuer", err, store.ErrNotFound)
}
