package sqlite

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/storetest"
)

func TestTimestampContract(t *testing.T) {
	paths := map[store.TimestampStore]string{}
	var mu sync.Mutex
	storetest.RunTimestamps(t,
		func(t *testing.T) store.TimestampStore {
			p := tempDB(t)
			s := openAt(t, p)
			mu.Lock()
			paths[s] = p
			mu.Unlock()
			return s
		},
		func(t *testing.T, s store.TimestampStore) store.TimestampStore {
			mu.Lock()
			defer mu.Unlock()
			return openAt(t, paths[s])
		})
}

// TestReservationSurvivesReopen: serials reserved before a restart are
// never reserved again after it, even if none of them was used.
func TestReservationSurvivesReopen(t *testing.T) {
	path := tempDB(t)
	s := openAt(t, path)
	first, err := s.ReserveTimestampSerials(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, path)
	next, err := s.ReserveTimestampSerials(context.Background(), 1)
	if err != nil || next < first+100 {
		t.Fatalf("after reopen: %d, %v; want at least %d", next, err, first+100)
	}
}

// TestTokensShareBatches: time-stamp records, certificates and audit
// entries queued together go out in one transaction; a duplicate token
// serial fails alone, and the audit chain stays whole.
func TestTokensShareBatches(t *testing.T) {
	s := openAt(t, tempDB(t))
	if err := s.RecordTimestamp(context.Background(), storetest.Token(1, "first")); err != nil {
		t.Fatal(err)
	}
	release := stall(t, s)
	p := plug(t, s)
	record := func(serial int64) func() error {
		return func() error { return s.RecordTimestamp(context.Background(), storetest.Token(serial, "x")) }
	}
	chans := []<-chan error{
		enqueue(t, s, record(2)),
		enqueue(t, s, insertOp(s, storetest.Serial(1), "services")),
		enqueue(t, s, record(1)), // already recorded
		enqueue(t, s, func() error { return s.AppendAudit(context.Background(), ok) }),
		enqueue(t, s, record(3)),
		enqueue(t, s, record(3)), // duplicate within the batch
		enqueue(t, s, record(4)),
	}
	commitsBefore := s.gc.commits.Load()
	release()
	if err := <-p; err != nil {
		t.Fatal(err)
	}
	for i, ch := range chans {
		err := <-ch
		switch dup := i == 2 || i == 5; {
		case dup && !errors.Is(err, store.ErrConflict):
			t.Errorf("request %d (duplicate serial): %v, want ErrConflict", i, err)
		case !dup && err != nil:
			t.Errorf("request %d: %v", i, err)
		}
	}
	if got := s.gc.commits.Load() - commitsBefore; got != 2 {
		t.Errorf("the plug and 7 requests took %d transactions, want 2", got)
	}
	for serial := int64(1); serial <= 4; serial++ {
		if _, err := s.TimestampBySerial(context.Background(), serial); err != nil {
			t.Errorf("token %d: %v", serial, err)
		}
	}
	verify(t, s, 3) // plug, certificate, audit event
}
