// Package tsaload is the time-stamp load of `make bench`: vccpki's TSA
// (POST /tsa, every token recorded durably before the reply) beside
// sigstore's timestamp-authority (file signer, P-256, no record), driven by
// one load generator in the same run, with the bare P-256 signing rate of
// this machine as the floor of the work both do.
package tsaload_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/internal/benchutil"
)

var loadN = flag.Int("tsa.n", 20_000, "time-stamp requests per server and concurrency")

// target is a running time-stamp server.
type target struct {
	name, url string
	pid       int
	root      string // PEM file of the root its tokens chain to
	metrics   string // its /metrics, "" for none
}

type result struct {
	benchutil.TimestampLoadResult
	cpuPerToken time.Duration
}

// BenchmarkTSALoad runs the same RFC 3161 request (SHA-256 imprint, nonce,
// certReq) against both servers at C=8 and C=16 over keep-alive
// connections, checks every reply is granted and verifies a sample of each
// server's tokens with openssl ts -verify against the server's root.
func BenchmarkTSALoad(b *testing.B) {
	openssl := harness.Tool(b, "openssl")
	dir := b.TempDir()
	digest := sha256.Sum256([]byte("tsaload artefact"))
	query := timestampQuery(b, digest[:])
	targets := []*target{startVccpki(b), startSigstore(b, dir)}
	concurrency := []int{8, 16}
	results := map[string]result{}
	for _, c := range concurrency {
		for _, tg := range targets {
			b.Run(fmt.Sprintf("%s/C=%d", tg.name, c), func(b *testing.B) {
				// Warm up: connections, caches, the first commit.
				if _, err := benchutil.TimestampLoad(tg.url, query, c, 20*c); err != nil {
					b.Fatalf("%s warm-up: %v", tg.name, err)
				}
				gc0 := scrapeGroupCommit(b, tg.metrics)
				cpu0 := processCPU(b, tg.pid)
				var r benchutil.TimestampLoadResult
				for b.Loop() {
					var err error
					if r, err = benchutil.TimestampLoad(tg.url, query, c, *loadN); err != nil {
						b.Fatalf("%s: %v", tg.name, err)
					}
				}
				res := result{r, (processCPU(b, tg.pid) - cpu0) / time.Duration(r.Requests)}
				verifySamples(b, openssl, dir, tg, digest[:], r.Samples)
				b.ReportMetric(r.PerSecond(), "tokens/s")
				b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(res.cpuPerToken.Microseconds()), "server-cpu-µs/token")
				if gc1 := scrapeGroupCommit(b, tg.metrics); gc0 != nil && gc1 != nil {
					gc := gc1.since(gc0)
					b.ReportMetric(gc.avg("batch_size", 1), "writes/commit")
					b.ReportMetric(gc.avg("seconds", 1e6), "µs/commit")
					b.ReportMetric(gc.avg("wait_seconds", 1e6), "queue-wait-µs")
				}
				results[fmt.Sprintf("%s/%d", tg.name, c)] = res
			})
		}
	}
	bare := bareSigning(2 * time.Second)
	fmt.Printf("\nRFC 3161 time-stamps over HTTP keep-alive, %d requests per run; bare P-256 signing here: %.0f/s on %d cores\n", *loadN, bare, runtime.NumCPU())
	fmt.Printf("| C | vccpki tokens/s | p50 ms | p99 ms | CPU µs/token | sigstore TSA tokens/s | p50 ms | p99 ms | CPU µs/token | ratio | vccpki / bare signing |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range concurrency {
		v, s := results[fmt.Sprintf("vccpki/%d", c)], results[fmt.Sprintf("sigstore/%d", c)]
		if v.Requests == 0 || s.Requests == 0 {
			continue
		}
		fmt.Printf("| %d | %.0f | %.2f | %.2f | %d | %.0f | %.2f | %.2f | %d | %.2f× | %.0f%% |\n", c,
			v.PerSecond(), ms(v.P50), ms(v.P99), v.cpuPerToken.Microseconds(),
			s.PerSecond(), ms(s.P50), ms(s.P99), s.cpuPerToken.Microseconds(),
			v.PerSecond()/s.PerSecond(), 100*v.PerSecond()/bare)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func processCPU(b *testing.B, pid int) time.Duration {
	d, err := benchutil.ProcessCPU(pid)
	if err != nil {
		b.Fatalf("reading the server's CPU time: %v", err)
	}
	return d
}

// bareSigning is the rate of P-256 signatures over a SHA-256 digest on
// every core for d: the floor of a token's work.
func bareSigning(d time.Duration) float64 {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("x"))
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.NumCPU() {
		wg.Go(func() {
			for time.Since(start) < d {
				k.Sign(rand.Reader, digest[:], crypto.SHA256)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// timestampQuery is a DER TimeStampReq (RFC 3161 §2.4.1): version 1, a
// SHA-256 imprint, a nonce, certReq, no policy (each server uses its
// default).
func timestampQuery(b *testing.B, digest []byte) []byte {
	type imprint struct {
		Alg  pkix.AlgorithmIdentifier
		Hash []byte
	}
	der, err := asn1.Marshal(struct {
		Version int
		Imprint imprint
		Nonce   *big.Int
		CertReq bool
	}{1, imprint{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, Parameters: asn1.NullRawValue}, digest},
		big.NewInt(0x5eed_1234), true})
	if err != nil {
		b.Fatal(err)
	}
	return der
}

// verifySamples checks sampled tokens with openssl ts -verify: the
// signature, the imprint and the chain to the server's root.
func verifySamples(b *testing.B, openssl, dir string, tg *target, digest []byte, samples [][]byte) {
	if len(samples) == 0 {
		b.Fatalf("%s: no token sampled", tg.name)
	}
	reply := filepath.Join(dir, tg.name+".tsr")
	for _, s := range samples {
		if err := os.WriteFile(reply, s, 0o600); err != nil {
			b.Fatal(err)
		}
		out, err := exec.Command(openssl, "ts", "-verify", "-digest", hex.EncodeToString(digest), "-in", reply, "-CAfile", tg.root).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification: OK") {
			b.Fatalf("%s: openssl ts -verify: %v\n%s", tg.name, err, out)
		}
	}
	b.Logf("%s: %d sampled tokens verified by openssl ts -verify", tg.name, len(samples))
}

// startVccpki is vccpki serve as configured by default (SQLite,
// synchronous=FULL: each token is recorded before it is sent).
func startVccpki(b *testing.B) *target {
	cfg, data := harness.Config(b, "log:\n  level: warn\n")
	srv := harness.StartServerWith(b, harness.BinaryWithoutRace(b), cfg)
	return &target{name: "vccpki", url: srv.BannerURL(b, "Time-stamps"), pid: srv.Cmd.Process.Pid, root: filepath.Join(data, "root.pem"), metrics: srv.Metrics}
}

// groupCommit holds the _sum and _count of vccpki's group-commit
// histograms (vccpki_store_group_commit_*), keyed by the name's tail and
// suffix ("seconds_sum").
type groupCommit map[string]float64

func scrapeGroupCommit(b *testing.B, url string) groupCommit {
	g := groupCommit{}
	if url == "" {
		return g
	}
	resp, err := http.Get(url)
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	const prefix = "vccpki_store_group_commit_"
	for line := range strings.Lines(string(body)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(name, prefix) || !(strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count")) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			g[strings.TrimPrefix(name, prefix)] = v
		}
	}
	if len(g) != 6 { // a binary from before these metrics
		b.Logf("metrics: no group-commit histograms at %s", url)
		return nil
	}
	return g
}

func (g groupCommit) since(before groupCommit) groupCommit {
	d := groupCommit{}
	for k, v := range g {
		d[k] = v - before[k]
	}
	return d
}

// avg is the mean of one histogram over the run, times scale.
func (g groupCommit) avg(name string, scale float64) float64 {
	if g[name+"_count"] == 0 {
		return 0
	}
	return scale * g[name+"_sum"] / g[name+"_count"]
}

// startSigstore is sigstore's timestamp-server (built from the go tool of
// this module) with its file signer: a P-256 key and a two-certificate
// chain made here, a root and a time-stamping leaf (EKU timeStamping,
// critical, as RFC 3161 §2.3 requires).
func startSigstore(b *testing.B, dir string) *target {
	bin := harness.GoTool(b, "github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server")
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tsaload sigstore root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		b.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tsaload sigstore TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, leafKey.Public(), rootKey)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(leafKey)
	keyPath, chainPath, rootPath := filepath.Join(dir, "sigstore.key"), filepath.Join(dir, "sigstore-chain.pem"), filepath.Join(dir, "sigstore-root.pem")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
	for path, body := range map[string][]byte{
		keyPath:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		chainPath: chain,
		rootPath:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}),
	} {
		if err := os.WriteFile(path, body, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	port := harness.FreePort(b)
	cmd := exec.Command(bin, "serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--timestamp-signer", "file", "--file-signer-key-path", keyPath, "--certificate-chain-path", chainPath,
		"--disable-ntp-monitoring", "--log-type", "prod")
	cmd.Stdout, cmd.Stderr = nil, nil // its log line per request would go to the benchmark's output
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	harness.Eventually(b, 30*time.Second, "sigstore timestamp-server listening on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return &target{name: "sigstore", url: "http://" + addr + "/api/v1/timestamp", pid: cmd.Process.Pid, root: rootPath}
}
