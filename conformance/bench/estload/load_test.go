package estload_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/internal/testpki"
	"go.mozilla.org/pkcs7"
)

// The EST load of `make bench`: simpleenroll at concurrency loadC, with
// HTTP Basic credentials and with TLS client certificates, over kept-alive
// connections and with a new TLS connection per enrolment (a fleet of
// devices), against vccpki serve and, in the same run, globalsign's own
// estserver (whose mock CA checks nothing, stores nothing and asks for no
// credentials). Both servers run as their own processes, so that their
// CPU time and peak memory can be read from /proc. The load generator is
// its own client: globalsign's est.Client dials a new connection per call.
var (
	loadC        = flag.Int("est.load.c", 8, "concurrency of the EST load benchmark")
	loadDuration = flag.Duration("est.load.duration", 5*time.Second, "how long each EST load scenario runs")
)

func BenchmarkESTLoad(b *testing.B) {
	dir := b.TempDir()
	targets := []*loadTarget{startVccpki(b, dir), startEstserver(b, dir)}
	type row struct {
		target, auth, conn string
		r                  loadResult
	}
	var rows []row
	for _, tg := range targets {
		for _, auth := range []string{"basic", "cert"} {
			for _, keepAlive := range []bool{true, false} {
				conn := "new-conn"
				if keepAlive {
					conn = "keep-alive"
				}
				name := fmt.Sprintf("%s/%s/%s/C=%d", tg.name, auth, conn, *loadC)
				b.Run(name, func(b *testing.B) {
					r := runLoad(b, tg, auth == "cert", keepAlive, *loadC, *loadDuration)
					b.ReportMetric(r.perSecond, "enrol/s")
					b.ReportMetric(r.p50.Seconds()*1000, "p50-ms")
					b.ReportMetric(r.p99.Seconds()*1000, "p99-ms")
					b.ReportMetric(r.cpuPerOp.Seconds()*1000, "server-cpu-ms/enrol")
					b.ReportMetric(float64(r.peakRSS)/(1<<20), "server-peak-MiB")
					rows = append(rows, row{tg.name, auth, conn, r})
				})
			}
		}
	}
	fmt.Printf("\nEST simpleenroll load, C=%d, %s per scenario\n", *loadC, *loadDuration)
	// The ceiling is what the server would do with this machine's cores to
	// itself: cores ÷ the server's own CPU per enrolment (measured in
	// /proc, so the load generator's share is left out).
	fmt.Printf("| server | auth | connections | enrolments/s | p50 ms | p99 ms | server CPU ms/enrolment | ceiling/s (%d cores) | of ceiling | machine CPU idle | server peak RSS MiB | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n", runtime.NumCPU())
	for _, r := range rows {
		ceiling := float64(runtime.NumCPU()) / r.r.cpuPerOp.Seconds()
		idle := r.r.idle.Seconds() / (float64(r.r.count) / r.r.perSecond) / float64(runtime.NumCPU())
		fmt.Printf("| %s | %s | %s | %.0f | %.2f | %.2f | %.3f | %.0f | %.0f%% | %.0f%% | %.0f | %d |\n", r.target, r.auth, r.conn, r.r.perSecond,
			r.r.p50.Seconds()*1000, r.r.p99.Seconds()*1000, r.r.cpuPerOp.Seconds()*1000, ceiling, 100*r.r.perSecond/ceiling, 100*idle, float64(r.r.peakRSS)/(1<<20), r.r.errors)
	}
	var vk, ek loadResult
	for _, r := range rows {
		if r.auth == "basic" && r.conn == "keep-alive" {
			switch r.target {
			case "vccpki":
				vk = r.r
			case "estserver":
				ek = r.r
			}
		}
	}
	if vk.count > 0 && ek.count > 0 {
		fmt.Printf("\nkeep-alive, Basic: vccpki %.0f/s, estserver %.0f/s (%.2f×), vccpki at %.0f%% of its ceiling\n", vk.perSecond, ek.perSecond,
			vk.perSecond/ek.perSecond, 100*vk.perSecond*vk.cpuPerOp.Seconds()/float64(runtime.NumCPU()))
	}
}

// loadTarget is a running EST server process and what a client needs.
type loadTarget struct {
	name     string
	pid      int
	url      string // .../simpleenroll
	roots    *x509.CertPool
	user     string
	password string
	cert     tls.Certificate // a client certificate the server accepts
	names    func(i int) []string
}

type loadResult struct {
	count, errors int
	perSecond     float64
	p50, p99      time.Duration
	cpuPerOp      time.Duration
	peakRSS       int64
	// idle is the machine's CPU time left idle during the scenario: when
	// it is near zero, other processes (the load generator, whatever else
	// runs) had the cores the server did not use, and the server's share
	// of its ceiling says nothing about waits inside it.
	idle time.Duration
}

func runLoad(b *testing.B, tg *loadTarget, withCert, keepAlive bool, c int, d time.Duration) loadResult {
	// CSRs are the client's work: made beforehand.
	names := tg.names
	if withCert && tg.cert.Leaf != nil {
		// A client certificate renews its own identity (RFC 7030 §4.2.1;
		// vccpki refuses other names without an operator grant).
		names = func(int) []string { return tg.cert.Leaf.DNSNames }
	}
	csrs := make([][]byte, 256)
	for i := range csrs {
		key := newKey(b)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{}, DNSNames: names(i)}, key)
		if err != nil {
			b.Fatal(err)
		}
		csrs[i] = b64(der)
	}
	tc := &tls.Config{RootCAs: tg.roots}
	if withCert {
		tc.Certificates = []tls.Certificate{tg.cert}
	}
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: c, MaxConnsPerHost: c, ForceAttemptHTTP2: false}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	enrol := func(i int) error {
		req, err := http.NewRequest(http.MethodPost, tg.url, bytes.NewReader(csrs[i%len(csrs)]))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/pkcs10")
		if !withCert {
			req.SetBasicAuth(tg.user, tg.password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	}
	// Warm up: caches, connections, the first slow-hash check.
	for i := range c {
		if err := enrol(i); err != nil {
			b.Fatalf("%s: warm-up enrolment: %v", tg.name, err)
		}
	}
	cpu0, idle0 := procCPU(b, tg.pid), machineIdle(b)
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 4096)
			bad := 0
			var e1 error
			for i := w; time.Now().Before(deadline); i += c {
				t0 := time.Now()
				if err := enrol(i); err != nil {
					bad++
					if e1 == nil {
						e1 = err
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			if firstErr == nil {
				firstErr = e1
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu, idle := procCPU(b, tg.pid)-cpu0, machineIdle(b)-idle0
	if firstErr != nil {
		b.Errorf("%s: %d failed enrolments, first: %v", tg.name, errs, firstErr)
	}
	if len(lat) == 0 {
		b.Fatalf("%s: no enrolment succeeded", tg.name)
	}
	slices.Sort(lat)
	return loadResult{count: len(lat), errors: errs, perSecond: float64(len(lat)) / elapsed.Seconds(),
		p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], cpuPerOp: cpu / time.Duration(len(lat)), peakRSS: procPeakRSS(b, tg.pid),
		idle: idle}
}

// procCPU is the user plus system CPU time of a process (/proc/PID/stat
// fields 14 and 15, in clock ticks of 1/100 s on Linux).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("reading the server's CPU time: %v", err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// machineIdle is the idle plus iowait time of all CPUs (/proc/stat, the
// "cpu" line's fourth and fifth fields, in ticks of 1/100 s).
func machineIdle(b *testing.B) time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatalf("reading /proc/stat: %v", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		b.Fatalf("/proc/stat: unexpected first line %q", line)
	}
	idle, _ := strconv.ParseInt(f[4], 10, 64)
	iowait, _ := strconv.ParseInt(f[5], 10, 64)
	return time.Duration(idle+iowait) * 10 * time.Millisecond
}

// procPeakRSS is the process's peak resident set size (VmHWM).
func procPeakRSS(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("reading the server's memory: %v", err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(raw)
	if m == nil {
		b.Fatal("no VmHWM in /proc/PID/status")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// startProcess starts a server and stops it when the benchmark ends.
func startProcess(b *testing.B, cmd *exec.Cmd) {
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
}

func waitTLS(b *testing.B, addr string) {
	for i := 0; i < 300; i++ {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("no TLS server at %s", addr)
}

// startVccpki runs `vccpki serve` with the repository's
// profiles and real SQLite store, and makes Basic credentials and a
// client certificate for profile argus.
func startVccpki(b *testing.B, dir string) *loadTarget {
	// Without the race detector: it multiplies CPU and memory, and this
	// measures the server (as tsaload does).
	bin := harness.BinaryWithoutRace(b)
	profiles := filepath.Join(harness.RepoRoot, "configs", "profiles")
	cfg := filepath.Join(dir, "vccpki.yaml")
	data := filepath.Join(dir, "data")
	conf := fmt.Sprintf("data: %s\nprofiles: %s\nhierarchy:\n  locality: Berlin\nlog:\n  level: warn\n", data, profiles)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	envv := append(os.Environ(), "VCCPKI_KEK_PASSPHRASE=load test passphrase", "VCCPKI_CONFIG=")
	add := exec.Command(bin, "est", "user", "add", "--config", cfg, "--service", "argus", "--user", "load")
	add.Env = envv
	out, err := add.Output()
	if err != nil {
		b.Fatalf("est user add: %v", err)
	}
	pw := regexp.MustCompile(`(?m)^password=(\S+)$`).FindSubmatch(out)
	if pw == nil {
		b.Fatalf("est user add printed %q", out)
	}
	addr := harness.FreeAddr(b)
	cmd := exec.Command(bin, "serve", "--config", cfg, "--https-addr", addr, "--http-addr", harness.FreeAddr(b), "--metrics-addr", "127.0.0.1:0")
	cmd.Env = envv
	cmd.Stdout = io.Discard
	startProcess(b, cmd)
	waitTLS(b, addr)
	rootPEM, err := os.ReadFile(filepath.Join(data, "root.pem"))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	tg := &loadTarget{name: "vccpki", pid: cmd.Process.Pid, url: "https://" + addr + "/.well-known/est/argus/simpleenroll", roots: roots,
		user: "load", password: string(pw[1]), names: func(i int) []string { return []string{fmt.Sprintf("h%d.argus.test", i)} }}
	tg.cert = enrolForLoad(b, tg)
	return tg
}

// enrolForLoad gets the client certificate of the client-certificate
// scenarios by enrolling once with Basic credentials.
func enrolForLoad(b *testing.B, tg *loadTarget) tls.Certificate {
	key := newKey(b)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"load-client.argus.test"}}, key)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, tg.url, bytes.NewReader(b64(der)))
	req.Header.Set("Content-Type", "application/pkcs10")
	req.SetBasicAuth(tg.user, tg.password)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tg.roots}}}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("enrolling the load client: %d %s", resp.StatusCode, body)
	}
	cert, err := parseCertsOnly(body)
	if err != nil {
		b.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// startEstserver runs globalsign's estserver (go tool estserver) with a
// throwaway CA as its mock CA and as the issuer of its TLS certificate
// and of the load client's certificate.
func startEstserver(b *testing.B, dir string) *loadTarget {
	out, err := exec.Command("go", "tool", "-n", "estserver").Output()
	if err != nil {
		b.Fatalf("building estserver (go tool -n estserver): %v", err)
	}
	caCert, caKeySigner, err := testpki.SelfSignedCA("estserver load CA")
	if err != nil {
		b.Fatal(err)
	}
	caKey := caKeySigner.(*ecdsa.PrivateKey)
	srvKey := newKey(b)
	srvTmpl := &x509.Certificate{SerialNumber: randSerial(b), Subject: pkix.Name{CommonName: "estserver"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, srvKey.Public(), caKey)
	if err != nil {
		b.Fatal(err)
	}
	srvCert, _ := x509.ParseCertificate(srvDER)
	caFile := writeFile(b, dir, "est-ca.pem", pemCert(caCert))
	caKeyFile := writeFile(b, dir, "est-ca.key", pemKey(b, caKey))
	srvFile := writeFile(b, dir, "est-srv.pem", append(pemCert(srvCert), pemCert(caCert)...))
	srvKeyFile := writeFile(b, dir, "est-srv.key", pemKey(b, srvKey))
	addr := harness.FreeAddr(b)
	cfg := map[string]any{
		"mock_ca": map[string]string{"certificates": caFile, "private_key": caKeyFile},
		"tls":     map[string]any{"listen_address": addr, "certificates": srvFile, "private_key": srvKeyFile, "client_cas": []string{caFile}},
		"timeout": 30, "log_file": filepath.Join(dir, "estserver.log"),
	}
	raw, _ := json.Marshal(cfg)
	cmd := exec.Command(strings.TrimSpace(string(out)), "-config", writeFile(b, dir, "estserver.json", raw))
	startProcess(b, cmd)
	waitTLS(b, addr)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	clientKey := newKey(b)
	client := testpki.IssueFrom(b, caCert, caKey, "load-client", clientKey.Public())
	return &loadTarget{name: "estserver", pid: cmd.Process.Pid, url: "https://" + addr + "/.well-known/est/simpleenroll", roots: roots,
		user: "load", password: "ignored", cert: tls.Certificate{Certificate: [][]byte{client.Raw}, PrivateKey: clientKey, Leaf: client},
		names: func(i int) []string { return []string{fmt.Sprintf("h%d.example.test", i)} }}
}

func randSerial(b *testing.B) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// parseCertsOnly reads a base64 PKCS#7 certs-only reply.
func parseCertsOnly(body []byte) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(body)))
	if err != nil {
		return nil, err
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, err
	}
	if len(p7.Certificates) != 1 {
		return nil, errors.New("not one certificate")
	}
	return p7.Certificates[0], nil
}
