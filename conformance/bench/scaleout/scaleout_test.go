package scaleout_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/acme/api"
	"golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/conformance/cluster"
	"github.com/vcc/vccpki/store/postgres/pgtest"
)

// Scale-out load (make bench): ACME issuance and OCSP throughput with one,
// two and three instances on one PostgreSQL (fsync on, as in production),
// beside the same load on one instance on SQLite (synchronous=FULL). The
// load generator runs in this process; the instances, PostgreSQL and the
// generator share the machine, so on few cores the figures show what the
// store costs, not what more machines would add.
const (
	scaleACMEIssuances = 120
	scaleACMEWorkers   = 12
	scaleOCSPConns     = 32
	scaleOCSPDuration  = 3 * time.Second
)

func BenchmarkScaleOut(b *testing.B) {
	pg, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		b.Fatalf("starting PostgreSQL: %v", err)
	}
	defer pg.Stop()
	type row struct {
		name                   string
		certsPerSec, cpuPerCrt float64
		pgCPUPerCrt            float64
		acmeErrs               int64
		ocspPerSec             float64
		ocspErrs               int64
		p50, p99               time.Duration
	}
	var rows []row
	for b.Loop() {
		rows = rows[:0]
		for _, cfg := range []struct {
			name string
			pg   bool
			n    int
		}{{"sqlite x1", false, 1}, {"postgres x1", true, 1}, {"postgres x2", true, 2}, {"postgres x3", true, 3}} {
			c := &cluster.Cluster{}
			if cfg.pg {
				c.DBURL = pg.Database(b)
			}
			cluster.StartWithURL(b, c, cfg.n)
			r := row{name: cfg.name}
			pgBefore := pg.CPUTime()
			leaves, issuer, rate, cpu, errs := scaleACME(b, c)
			r.certsPerSec, r.cpuPerCrt, r.acmeErrs = rate, cpu, errs
			if cfg.pg {
				r.pgCPUPerCrt = float64(pg.CPUTime()-pgBefore) / 1e6 / float64(len(leaves))
			}
			r.ocspPerSec, r.ocspErrs, r.p50, r.p99 = scaleOCSP(b, c, leaves, issuer)
			for _, n := range c.Nodes {
				n.Stop(b)
			}
			rows = append(rows, r)
			b.ReportMetric(rate, strings.ReplaceAll(cfg.name, " ", "")+"-certs/s")
			b.ReportMetric(r.ocspPerSec, strings.ReplaceAll(cfg.name, " ", "")+"-ocsp/s")
		}
	}
	fmt.Printf("\nScale-out: ACME %d issuances by %d workers (own account each, pinned round-robin to the instances, real http-01),\n"+
		"then OCSP POST for %v by %d connections spread over the instances\n", scaleACMEIssuances, scaleACMEWorkers, scaleOCSPDuration, scaleOCSPConns)
	fmt.Printf("%-12s %9s %12s %12s %6s %9s %9s %9s %6s\n", "store", "certs/s", "vccpki ms/c", "postgres ms/c", "errs", "ocsp/s", "p50 ms", "p99 ms", "errs")
	for _, r := range rows {
		fmt.Printf("%-12s %9.1f %12.1f %12.1f %6d %9.0f %9s %9s %6d\n", r.name, r.certsPerSec, r.cpuPerCrt, r.pgCPUPerCrt, r.acmeErrs, r.ocspPerSec, ms(r.p50), ms(r.p99), r.ocspErrs)
	}
	fmt.Println("(ms/c: CPU milliseconds per certificate of all vccpki instances, and of all PostgreSQL processes)")
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

// scaleACME issues scaleACMEIssuances certificates and returns them, their
// issuer, certificates per second and the instances' CPU per certificate.
func scaleACME(b testing.TB, c *cluster.Cluster) ([]*x509.Certificate, *x509.Certificate, float64, float64, int64) {
	cores := make([]*api.Core, scaleACMEWorkers)
	for w := range cores {
		cores[w] = c.ACMEClient(b, cluster.Pinned(c, w%len(c.Nodes)))
	}
	cpuBefore := clusterCPU(c)
	var (
		next, errs atomic.Int64
		mu         sync.Mutex
		leaves     []*x509.Certificate
		issuer     *x509.Certificate
		wg         sync.WaitGroup
	)
	start := time.Now()
	for w := range scaleACMEWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > scaleACMEIssuances {
					return
				}
				leaf, iss, err := c.IssueACME(cores[w], fmt.Sprintf("bench-%d-%d.test", w, i))
				if err != nil {
					errs.Add(1)
					continue
				}
				mu.Lock()
				leaves, issuer = append(leaves, leaf), iss
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	cpu := clusterCPU(c) - cpuBefore
	ok := float64(len(leaves))
	if ok == 0 {
		b.Fatal("no certificate issued")
	}
	return leaves, issuer, ok / wall.Seconds(), float64(cpu) / 1e6 / ok, errs.Load()
}

// scaleOCSP posts OCSP requests for the issued certificates, spread over
// the instances, and returns responses per second and latency.
func scaleOCSP(b *testing.B, c *cluster.Cluster, leaves []*x509.Certificate, issuer *x509.Certificate) (float64, int64, time.Duration, time.Duration) {
	reqs := make([][]byte, len(leaves))
	for i, l := range leaves {
		r, err := ocsp.CreateRequest(l, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = r
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: scaleOCSPConns}}
	var (
		done, errs atomic.Int64
		mu         sync.Mutex
		lat        []time.Duration
		wg         sync.WaitGroup
	)
	stop := time.Now().Add(scaleOCSPDuration)
	start := time.Now()
	for w := range scaleOCSPConns {
		node := c.Nodes[w%len(c.Nodes)]
		wg.Go(func() {
			var mine []time.Duration
			for i := w; time.Now().Before(stop); i++ {
				t0 := time.Now()
				resp, err := hc.Post(node.HTTPURL+"/ocsp", "application/ocsp-request", bytes.NewReader(reqs[i%len(reqs)]))
				if err != nil {
					errs.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || len(body) == 0 || body[0] != 0x30 {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
				done.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	wall := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	return float64(done.Load()) / wall.Seconds(), errs.Load(), pct(0.5), pct(0.99)
}

// clusterCPU is the CPU time the instances have used so far.
func clusterCPU(c *cluster.Cluster) time.Duration {
	var total time.Duration
	for _, n := range c.Nodes {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.Cmd.Process.Pid))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}
