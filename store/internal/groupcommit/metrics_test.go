package groupcommit

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// histogram reads the sample count and sum of the named metric.
func histogram(t *testing.T, name string) (count uint64, sum float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0, 0
}

// TestMetrics: every batch adds its size to the batch-size histogram and
// one sample to the commit time; every write one sample to the wait.
func TestMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		// submit runs the writes; it gets the queue and the gate the
		// commit function waits on before each batch.
		submit              func(t *testing.T, q *Queue[int], gate chan struct{})
		wantBatches, writes int
	}{
		{"one at a time", func(t *testing.T, q *Queue[int], gate chan struct{}) {
			for i := range 3 {
				gate <- struct{}{}
				if err := q.Submit(context.Background(), i); err != nil {
					t.Fatal(err)
				}
			}
		}, 3, 3},
		{"queued behind a commit", func(t *testing.T, q *Queue[int], gate chan struct{}) {
			var wg sync.WaitGroup
			submit := func(i int) {
				wg.Go(func() {
					if err := q.Submit(context.Background(), i); err != nil {
						t.Error(err)
					}
				})
			}
			submit(0)
			for q.Taken() < 1 { // the first batch is in its commit
				runtime.Gosched()
			}
			for i := 1; i <= 5; i++ {
				submit(i)
			}
			for q.Queued() < 5 {
				runtime.Gosched()
			}
			gate <- struct{}{} // the first batch
			gate <- struct{}{} // the five queued behind it, as one
			wg.Wait()
		}, 2, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batches0, sizes0 := histogram(t, "vccpki_store_group_commit_batch_size")
			commits0, _ := histogram(t, "vccpki_store_group_commit_seconds")
			waits0, _ := histogram(t, "vccpki_store_group_commit_wait_seconds")
			gate := make(chan struct{}, 8) // one token per batch to commit
			q := Start(256, func(batch []int, errs []error) error { <-gate; return nil }, errors.New("closed"))
			tc.submit(t, q, gate)
			q.Close()
			batches, sizes := histogram(t, "vccpki_store_group_commit_batch_size")
			commits, _ := histogram(t, "vccpki_store_group_commit_seconds")
			waits, _ := histogram(t, "vccpki_store_group_commit_wait_seconds")
			if got := batches - batches0; got != uint64(tc.wantBatches) {
				t.Errorf("batch-size samples: %d, want %d", got, tc.wantBatches)
			}
			if got := sizes - sizes0; got != float64(tc.writes) {
				t.Errorf("sum of batch sizes: %v, want %d", got, tc.writes)
			}
			if got := commits - commits0; got != uint64(tc.wantBatches) {
				t.Errorf("commit-time samples: %d, want %d", got, tc.wantBatches)
			}
			if got := waits - waits0; got != uint64(tc.writes) {
				t.Errorf("wait samples: %d, want %d", got, tc.writes)
			}
		})
	}
}
