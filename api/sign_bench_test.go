package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/sign"
)

// BenchmarkServerSign measures server-side signatures per second in
// process, with the software key store (goal ≥ 5,000/s):
//   - core: what POST /sign does before its commit: the signature with
//     the profile's server-held key, the in-process RFC 3161 time-stamp
//     (signed; its record is written with the signature's) and the
//     Sigstore bundle, with no write, so CPU only;
//   - api: all of POST /sign: authentication, rate limit, the above, the
//     registry entry, the time-stamp record and both audit entries in one
//     commit, without a network.
//
// VCCPKI_BENCH_C sets how many requests run at once (default 64, as from
// many CI jobs: group commit batches their records). Throughput at a
// fixed concurrency is C ÷ latency, and the latency is mostly the
// commit's flush. Besides sigs/s it reports p50-ms and p99-ms (latency of
// one signature) and cpu-ms/op (the process's user+system CPU per
// signature, which the machine's other load disturbs less than wall
// time): cores ÷ cpu-ms/op is the most this process can do.
//
//	VCCPKI_BENCH_C=32 go test -run '^$' -bench BenchmarkServerSign -benchtime 4000x ./api/
func BenchmarkServerSign(b *testing.B) {
	ctx := context.Background()
	sk, err := testEngine.SigningKey(ctx, "clara-signing", true, ca.Requester{Protocol: ca.ProtocolOperator, Subject: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	digest, _ := hex.DecodeString(randomDigest())
	b.Run("core", func(b *testing.B) {
		s := &sign.Signer{Key: sk.Signer, Cert: sk.Cert, Chain: sk.Chain}
		runSignBench(b, func() error {
			_, err := s.SignDigestStamped(ctx, digest, testEngine, testPolicy)
			return err
		})
	})
	b.Run("api", func(b *testing.B) {
		body, _ := json.Marshal(SignRequest{Profile: "clara-signing", ArtifactType: "manifest", Name: "bench", Digest: hex.EncodeToString(digest)})
		runSignBench(b, func() error {
			r := httptest.NewRequest("POST", Prefix+"/sign", bytes.NewReader(body))
			r.Header.Set("X-Test-Principal", signer)
			w := httptest.NewRecorder()
			testAPI.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				return &httpError{w.Code, w.Body.String()}
			}
			return nil
		})
	})
}

type httpError struct {
	code int
	body string
}

func (e *httpError) Error() string { return strconv.Itoa(e.code) + " " + e.body }

// runSignBench runs op b.N times from VCCPKI_BENCH_C goroutines and
// reports sigs/s, p50-ms, p99-ms and cpu-ms/op.
func runSignBench(b *testing.B, op func() error) {
	c := 64
	if v, err := strconv.Atoi(os.Getenv("VCCPKI_BENCH_C")); err == nil && v > 0 {
		c = v
	}
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((c + procs - 1) / procs) // RunParallel starts parallelism × GOMAXPROCS goroutines
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	cpu0 := processCPU()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	wall, cpu := time.Since(start), processCPU()-cpu0
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(b.N)/wall.Seconds(), "sigs/s")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(cpu)/float64(b.N), "cpu-ms/op")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
