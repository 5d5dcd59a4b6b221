package tsa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/benchutil"
	"github.com/vcc/vccpki/internal/testtool"
)

// BenchmarkSignBare is the floor: the TSA key signing a SHA-256 digest,
// nothing else, on every core.
func BenchmarkSignBare(b *testing.B) {
	signer, err := engine.Signer(context.Background(), ca.TSAName)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sigs/s")
	reportCPU(b, cpu)
}

// BenchmarkEngineTimestamp is a whole token without HTTP: serial, TSTInfo,
// CMS, signature and the durable record (group commit).
func BenchmarkEngineTimestamp(b *testing.B) {
	digest := sha256.Sum256([]byte("x"))
	o, _ := testTSAConfig().compile()
	req := ca.TimestampRequest{Hash: crypto.SHA256, Digest: digest[:], Nonce: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Policy: o.policies[0], Accuracy: time.Second, CertReq: true}
	b.SetParallelism(32) // callers wait for the commit: keep the cores busy meanwhile
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := engine.Timestamp(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
	reportCPU(b, cpu)
}

// BenchmarkHTTP drives POST /tsa over loopback with keep-alive at
// concurrency C, client and server in this process.
func BenchmarkHTTP(b *testing.B) {
	body := goodReq(b, nil)
	for _, c := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("C=%d", c), func(b *testing.B) {
			resetPeakRSS()
			cpu := cpuTime()
			res, err := benchutil.TimestampLoad(tsaURL, body, c, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.PerSecond(), "tokens/s")
			b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
			reportCPU(b, cpu)
			b.ReportMetric(peakRSS(), "peak-RSS-MiB")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used. CPU
// per operation does not depend on what else the shared machine runs, so
// the ratio of two of them is what throughputs would be on idle cores.
func cpuTime() time.Duration { return benchutil.CPUTime() }

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((cpuTime()-since).Microseconds())/float64(b.N), "cpu-µs/op")
}

// peakRSS returns the process's peak resident set (VmHWM) in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// resetPeakRSS starts a new VmHWM measurement (Linux clear_refs, "5").
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkOpenSSLReply is the peer: openssl ts -reply answering the same
// query, one process per reply, with a P-256 key, P processes at a time.
func BenchmarkOpenSSLReply(b *testing.B) {
	openssl := testtool.Need(b, "openssl")
	dir := b.TempDir()
	query := filepath.Join(dir, "q.tsq")
	if err := os.WriteFile(query, goodReq(b, nil), 0o644); err != nil {
		b.Fatal(err)
	}
	signer, key := throwawayTSA(b, dir)
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("P=%d", par), func(b *testing.B) {
			var next atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for w := range par {
				cnf := filepath.Join(dir, fmt.Sprintf("ts%d.cnf", w))
				os.WriteFile(cnf, fmt.Appendf(nil, opensslTSAConfig, filepath.Join(dir, fmt.Sprintf("serial%d", w)), policyOID), 0o644)
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						out, err := exec.Command(openssl, "ts", "-reply", "-config", cnf, "-queryfile", query,
							"-signer", signer, "-inkey", key, "-out", filepath.Join(dir, fmt.Sprintf("r%d.tsr", w))).CombinedOutput()
						if err != nil {
							b.Errorf("openssl ts -reply: %v %s", err, out)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "replies/s")
		})
	}
}

const opensslTSAConfig = `[ tsa ]
default_tsa = tsa1
[ tsa1 ]
serial = %s
crypto_device = builtin
signer_digest = sha256
default_policy = %s
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500
ordering = no
tsa_name = yes
ess_cert_id_alg = sha256
`

// throwawayTSA writes a self-signed P-256 time-stamping certificate and
// its key as PEM files for openssl, and returns their paths. The key is a
// benchmark's own, never a CA key.
func throwawayTSA(b *testing.B, dir string) (string, string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "openssl benchmark TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		b.Fatal(err)
	}
	cert, key := filepath.Join(dir, "tsa.pem"), filepath.Join(dir, "tsa.key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return cert, key
}
