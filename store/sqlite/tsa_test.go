package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
	commitsBefore := s.commits.Load()
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
	if got := s.commits.Load() - commitsBefore; got != 2 {
		t.Errorf("the plug and 7 requests took %d transactions, want 2", got)
	}
	for serial := int64(1); serial <= 4; serial++ {
		if _, err := s.TimestampBySerial(context.Background(), serial); err != nil {
			t.Errorf("token %d: %v", serial, err)
		}
	}
	verify(t, s, 3) // plug, certificate, audit event
}

// BenchmarkRecordTimestamp: concurrent token records through the group
// committer into a real file (synchronous=FULL), with the records per
// transaction it achieved.
func BenchmarkRecordTimestamp(b *testing.B) {
	for _, par := range []int{8, 32} {
		b.Run(fmt.Sprintf("callers=%d", 2*par), func(b *testing.B) {
			s := openAt(b, tempDB(b))
			var next atomic.Int64
			commits := s.commits.Load()
			b.SetParallelism(par)
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := next.Add(1)
					if err := s.RecordTimestamp(context.Background(), storetest.Token(n, strconv.FormatInt(n, 10))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/float64(s.commits.Load()-commits), "records/commit")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTimestampsByImprint: lookup by imprint scans the records (there
// is no index on imprint, see migration 0002); this is its rate.
func BenchmarkTimestampsByImprint(b *testing.B) {
	const n = 200_000
	s := openAt(b, tempDB(b))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				if err := s.RecordTimestamp(context.Background(), storetest.Token(i, strconv.FormatInt(i, 10))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := storetest.Token(n/2, strconv.Itoa(n/2)).Imprint
	b.ResetTimer()
	for b.Loop() {
		recs, err := s.TimestampsByImprint(context.Background(), want)
		if err != nil || len(recs) != 1 {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records-scanned/s")
}
