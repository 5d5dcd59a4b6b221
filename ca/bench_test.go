package ca_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/internal/benchutil"
)

// phaseTotals adds up the engine's per-phase timings.
type phaseTotals struct {
	mu sync.Mutex
	d  map[string]time.Duration
}

func (p *phaseTotals) observe(phase string, d time.Duration) {
	p.mu.Lock()
	p.d[phase] += d
	p.mu.Unlock()
}

// BenchmarkIssue measures the whole issuance path, CSR bytes in and the
// certificate recorded in a real SQLite file (synchronous=FULL), with a
// P-256 issuing key and zlint included. It reports certificates per second
// and the time per certificate spent checking, linting (throwaway-key
// signature plus zlint), signing and storing. CSRs are made beforehand:
// making them is the client's work.
func BenchmarkIssue(b *testing.B) {
	for _, par := range []int{1, 4} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			totals := &phaseTotals{d: map[string]time.Duration{}}
			f := newFixture(b, ca.DefaultHierarchy())
			e := reopen(b, f, testConfig(), ca.Options{PhaseObserver: totals.observe})
			csrs := make([][]byte, 256)
			for i := range csrs {
				csrs[i] = makeCSR(b, csrSpec{dns: []string{fmt.Sprintf("h%d.argus.test", i), "argus.test"}})
			}
			ctx := context.Background()
			var next atomic.Int64
			b.SetParallelism(par)
			b.ResetTimer()
			start, cpu := time.Now(), benchutil.CPUTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					if _, err := e.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: csrs[i%int64(len(csrs))], Requester: operator()}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "certs/s")
			b.ReportMetric(float64((benchutil.CPUTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			for _, phase := range []string{"check", "lint", "sign", "store"} {
				b.ReportMetric(float64(totals.d[phase].Microseconds())/float64(b.N), phase+"-µs/op")
			}
		})
	}
}

// reopen opens a second engine on a fixture's store, with another
// configuration or options.
func reopen(t testing.TB, f *fixture, cfg ca.Config, opts ca.Options) *ca.Engine {
	t.Helper()
	return reopenWithProfiles(t, f, cfg, opts, "../configs/profiles")
}

func reopenWithProfiles(t testing.TB, f *fixture, cfg ca.Config, opts ca.Options, profilesDir string) *ca.Engine {
	t.Helper()
	ctx := context.Background()
	rec, err := f.store.Key(ctx, keys.KEKRecordID)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keys.OpenKEK([]byte(testPassphrase), rec.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := profile.Load(profilesDir, ca.IssuingCAs)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ca.Open(ctx, f.store, keys.NewSoftware(kek, f.store), profiles, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testConfig() ca.Config {
	hc := ca.DefaultHierarchy()
	hc.Locality = "Berlin"
	return ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: hc}
}
