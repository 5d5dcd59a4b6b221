package verify_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vcc/vccpki/internal/testtool"
	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/sign/verify"
)

// writeBenchModel writes files random files of size bytes each.
func writeBenchModel(b *testing.B, files, size int) (string, []string) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "model")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, size)
	var names []string
	for i := range files {
		if _, err := rand.Read(buf); err != nil {
			b.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("shard-%03d.safetensors", i))
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
		names = append(names, p)
	}
	return dir, names
}

// BenchmarkVerifyModel verifies the OMS signature of a 1 GiB model of 200
// files (digesting dominates) and, in the same run and on the same files
// (in the page cache for both), times sha256sum, which uses one core.
// Reported: MB/s of each, their ratio (goal ≥ 1.5), the fixed cost of a
// verification (chain, time-stamp, revocation: a one-file model), and
// the model size that still verifies in under 1 s at the measured rate,
// and the rate with one digesting worker (the default is GOMAXPROCS).
func BenchmarkVerifyModel(b *testing.B) {
	sha256sum := testtool.Need(b, "sha256sum")
	const files, size = 200, (1 << 30) / 200
	p := newPKI(b)
	s := p.signer(b, p.engine, "clara-signing", "clara-bench", "/tsa")
	ctx := context.Background()
	pol := &verify.Policy{Roots: []*x509.Certificate{p.engine.Root()}, Identity: "clara-*"}

	dir, names := writeBenchModel(b, files, size)
	bundle, err := s.SignModel(ctx, dir, sign.ManifestOptions{})
	if err != nil {
		b.Fatal(err)
	}
	small, _ := writeBenchModel(b, 1, 1)
	smallBundle, err := s.SignModel(ctx, small, sign.ManifestOptions{})
	if err != nil {
		b.Fatal(err)
	}
	total := float64(files * size)

	sumRate := func() float64 {
		start := time.Now()
		if out, err := exec.Command(sha256sum, names...).CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v %s", err, out[:min(len(out), 300)])
		}
		return total / 1e6 / time.Since(start).Seconds()
	}
	warm := sumRate() // reads the files into the page cache
	var overhead time.Duration
	for range 5 {
		start := time.Now()
		if _, err := pol.VerifyModel(ctx, small, smallBundle); err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start); overhead == 0 || d < overhead {
			overhead = d
		}
	}

	b.SetBytes(int64(total))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := pol.VerifyModel(ctx, dir, bundle); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rate := total / 1e6 / (elapsed.Seconds() / float64(b.N))
	shaRate := max(warm, sumRate())
	// The same verification on one core, to show the digesting uses all.
	one := *pol
	one.Workers = 1
	oneStart := time.Now()
	if _, err := one.VerifyModel(ctx, dir, bundle); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(total/1e6/time.Since(oneStart).Seconds(), "1-core-MB/s")
	b.ReportMetric(shaRate, "sha256sum-MB/s")
	b.ReportMetric(rate/shaRate, "x-sha256sum")
	b.ReportMetric(float64(overhead.Microseconds())/1000, "fixed-ms")
	b.ReportMetric((time.Second-overhead).Seconds()*rate/1000, "GB-under-1s")
}
