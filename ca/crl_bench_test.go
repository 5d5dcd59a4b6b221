package ca_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite/sqlitetest"
)

// BenchmarkCRLBuild measures building and signing the full CRL of an
// issuer with 100,000 and 1,000,000 revoked certificates in a real
// SQLite file (rows written straight into the store, not issued). Each
// build runs in a child process, so that its peak resident memory
// (VmHWM: Go heap, SQLite's page cache and all) is measured alone.
func BenchmarkCRLBuild(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("revoked=%d", n), func(b *testing.B) {
			f := newFixture(b, ca.DefaultHierarchy())
			start := time.Now()
			if err := fillRevoked(f.dir, n, 0); err != nil {
				b.Fatal(err)
			}
			b.Logf("%d revoked rows written in %v", n, time.Since(start).Round(time.Millisecond))
			var last map[string]float64
			for b.Loop() {
				last = crlChild(b, f.dir)
			}
			if int(last["entries"]) != n {
				b.Fatalf("CRL has %v entries, want %d", last["entries"], n)
			}
			b.ReportMetric(last["took"], "s/build")
			b.ReportMetric(last["peak"]/(1<<20), "peak-RSS-MB")
			b.ReportMetric(last["before"]/(1<<20), "RSS-before-MB")
			b.ReportMetric(last["bytes"]/(1<<20), "CRL-MB")
		})
	}
}

// fillRevoked writes n revoked certificates of the Services CA, spread
// over shards 1..shards (0: none), with random serials in random order,
// as issuance writes them.
func fillRevoked(dir string, n, shards int) error {
	serials := randomSerials(n)
	now := time.Now().UTC()
	return sqlitetest.InsertCertificates(context.Background(), filepath.Join(dir, "vccpki.db"), n, func(i int) store.Certificate {
		shard := 0
		if shards > 0 {
			shard = 1 + i%shards
		}
		return store.Certificate{
			Serial: serials[i], Issuer: ca.ServicesCA, Profile: "argus", Requester: "bench", Subject: "bench",
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), DER: []byte{0x30, 0},
			CRLShard: shard, RevokedAt: now.Add(-time.Duration(i) * time.Second), RevocationReason: []int{0, 1, 4, 5}[i%4],
		}
	})
}

// randomSerials returns n random 16-byte serials, as the engine makes
// them (distinct with overwhelming probability).
func randomSerials(n int) []string {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	out := make([]string, n)
	for i := range out {
		var s [16]byte
		for j := range s {
			s[j] = byte(rng.Uint32())
		}
		s[0] = s[0]&0x7f | 0x40
		out[i] = hex.EncodeToString(s[:])
	}
	return out
}

// crlChild runs TestCRLBuildChildProcess in a new process on dir and
// returns what it measured.
func crlChild(b *testing.B, dir string) map[string]float64 {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCRLBuildChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "VCCPKI_CRL_CHILD_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "CRLCHILD "); ok {
			m := map[string]float64{}
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				m[k], _ = strconv.ParseFloat(v, 64)
			}
			return m
		}
	}
	b.Fatalf("child printed no measurement:\n%s", out)
	return nil
}

// TestCRLBuildChildProcess is the child of BenchmarkCRLBuild: it does
// nothing unless started by it.
func TestCRLBuildChildProcess(t *testing.T) {
	dir := os.Getenv("VCCPKI_CRL_CHILD_DIR")
	if dir == "" {
		return
	}
	f := openFixture(t, dir, ca.DefaultHierarchy())
	runtime.GC()
	before := procStatus(t, "VmRSS")
	start := time.Now()
	c, err := f.engine.BuildCRL(context.Background(), ca.ServicesCA, 0)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	fmt.Printf("CRLCHILD entries=%d bytes=%d took=%f before=%d peak=%d\n", c.Entries, c.Size(), took.Seconds(), before, procStatus(t, "VmHWM"))
}

// procStatus reads a memory figure of this process from /proc, in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
