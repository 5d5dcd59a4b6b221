package ocspload_test

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
	"github.com/vcc/vccpki/store/sqlite/sqlitetest"
)

// Load benchmark settings: one wrk thread (a second one takes the CPU
// the server needs on two cores and only adds scheduling delay), the
// concurrency C of the main runs, and how long each run lasts.
// OCSP_LOAD_THREADS, OCSP_LOAD_CONNS and OCSP_LOAD_DURATION override them.
var (
	loadThreads  = envInt("OCSP_LOAD_THREADS", 1)
	loadConns    = envInt("OCSP_LOAD_CONNS", 16)
	loadDuration = envString("OCSP_LOAD_DURATION", "10s")
)

const sampleSize = 20_000 // certificates the requests ask about, drawn at random

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// BenchmarkOCSPLoad drives the real vccpki binary with wrk over HTTP
// keep-alive: POST and GET at concurrency C (16), with 10,000 and with
// 1,000,000 certificates in the store (rows written straight into SQLite,
// then pre-signed by the server at start); POST again while 200 idle and
// 20 slow (slowloris) connections are held open, and at C=64; and, on the
// same CA, key and certificates, openssl ocsp as the responder. It
// reports responses per second and the p50 and p99 latency wrk measured.
// Load generator and server share this machine's cores.
func BenchmarkOCSPLoad(b *testing.B) {
	wrk := harness.Tool(b, "wrk")
	openssl := harness.Tool(b, "openssl")
	bin := harness.Binary(b)
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			srv := startLoadServer(b, bin, n)
			for _, tc := range []struct {
				name   string
				script string
				conns  int
				idle   bool
			}{
				{"vccpki/POST", srv.postScript, loadConns, false},
				{"vccpki/GET", srv.getScript, loadConns, false},
				{"vccpki/POST+idle+slow", srv.postScript, loadConns, true},
				{"vccpki/POST/C=64", srv.postScript, 64, false},
			} {
				b.Run(tc.name, func(b *testing.B) {
					if tc.idle {
						stop := holdConnections(b, srv.addr, 200, 20)
						defer stop()
					}
					before := srv.liveSignatures(b)
					var res wrkResult
					for b.Loop() {
						res = runWrk(b, wrk, tc.script, "http://"+srv.addr, tc.conns)
					}
					res.report(b)
					if live := srv.liveSignatures(b) - before; live > res.requests/100 {
						b.Errorf("%d of %d responses were signed live: the cache is not doing its job", live, res.requests)
					}
				})
			}
			b.Run("openssl-ocsp-multi2/POST", func(b *testing.B) {
				addr := startOpenSSLResponder(b, openssl, srv)
				var res wrkResult
				for b.Loop() {
					res = runWrk(b, wrk, srv.postScript, "http://"+addr, loadConns)
				}
				res.report(b)
			})
		})
	}
}

// loadServer is a running vccpki serve with n certificates, and wrk
// scripts for requests about a sample of them.
type loadServer struct {
	dir, data, addr       string
	metricsAddr           string // /metrics has its own listener
	postScript, getScript string
	serials               []string
	services, responder   *x509.Certificate
	responderKeyPEM       []byte
	cmd                   *exec.Cmd
}

func startLoadServer(b *testing.B, bin string, n int) *loadServer {
	b.Helper()
	s := &loadServer{dir: b.TempDir(), addr: harness.FreeAddr(b), metricsAddr: harness.FreeAddr(b)}
	s.data = filepath.Join(s.dir, "data")
	profiles := filepath.Join(harness.RepoRoot, "configs", "profiles")
	cfg := filepath.Join(s.dir, "vccpki.yaml")
	body := fmt.Sprintf("data: data\nprofiles: %s\nhttp_addr: %s\nmetrics:\n  addr: %s\nhierarchy:\n  locality: Berlin\nlog:\n  level: warn\n", profiles, s.addr, s.metricsAddr)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+harness.Passphrase, "VCCPKI_CONFIG=")
	initCmd := exec.Command(bin, "init", "--config", cfg)
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		b.Fatalf("vccpki init: %v\n%s", err, out)
	}

	// n valid certificates of the Services CA, random serials in random order.
	start := time.Now()
	rng := rand.New(rand.NewPCG(uint64(n), 11))
	now := time.Now().UTC()
	all := make([]string, n)
	err := sqlitetest.InsertCertificates(context.Background(), filepath.Join(s.data, "vccpki.db"), n, func(i int) store.Certificate {
		var sb [16]byte
		for j := range sb {
			sb[j] = byte(rng.Uint32())
		}
		sb[0] = sb[0]&0x7f | 0x40
		all[i] = hex.EncodeToString(sb[:])
		return store.Certificate{Serial: all[i], Issuer: ca.ServicesCA, Profile: "argus", Requester: "bench", Subject: "bench",
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Duration(30+i%60) * 24 * time.Hour), DER: []byte{0x30, 0}}
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d certificates written in %v", n, time.Since(start).Round(time.Millisecond))
	for range min(sampleSize, n) {
		s.serials = append(s.serials, all[rng.IntN(n)])
	}
	s.loadCA(b)
	s.writeScripts(b)

	s.cmd = exec.Command(bin, "serve", "--config", cfg, "--https-addr", "127.0.0.1:0")
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, os.Stderr
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	start = time.Now()
	for s.cachedResponses(b) < n {
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("pre-signing %d responses did not finish in 10 minutes", n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.Logf("server pre-signed %d responses in %v; server RSS %d MB, Go heap in use %d MB", n, time.Since(start).Round(time.Millisecond),
		rssOf(s.cmd.Process.Pid)>>20, s.metric(b, "go_memstats_heap_inuse_bytes")>>20)
	return s
}

// loadCA reads the Services CA, its responder certificate and key from
// the store, for the requests and for openssl (whose key must be a file).
func (s *loadServer) loadCA(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(s.data, "vccpki.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Key(ctx, keys.KEKRecordID)
	if err != nil {
		b.Fatal(err)
	}
	kek, err := keys.OpenKEK([]byte(harness.Passphrase), rec.Sealed)
	if err != nil {
		b.Fatal(err)
	}
	hc := ca.DefaultHierarchy()
	hc.Locality = "Berlin"
	e, err := ca.Open(ctx, st, keys.NewSoftware(kek, st), nil, ca.Config{PublicURL: "http://" + s.addr, Hierarchy: hc}, ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s.services, _ = e.CACert(ca.ServicesCA)
	s.responder, _ = e.CACert(ca.OCSPResponderName(ca.ServicesCA))
	key, err := e.Signer(ctx, ca.OCSPResponderName(ca.ServicesCA))
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	s.responderKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writeScripts writes wrk Lua scripts that send pre-formatted requests
// (SHA-1 CertIDs, no nonce, as openssl -no_nonce and browsers send) for
// random certificates of the sample.
func (s *loadServer) writeScripts(b *testing.B) {
	b.Helper()
	var post, get strings.Builder
	post.WriteString("local bodies = {\n")
	get.WriteString("local paths = {\n")
	for _, serial := range s.serials {
		n, _ := new(big.Int).SetString(serial, 16)
		der := singleRequest(b, s.services, n)
		post.WriteString(luaString(der) + ",\n")
		get.WriteString(luaString([]byte("/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(der)))) + ",\n")
	}
	post.WriteString(`}
local reqs = {}
init = function(args)
  for i, body in ipairs(bodies) do
    reqs[i] = wrk.format("POST", "/ocsp", {["Content-Type"] = "application/ocsp-request"}, body)
  end
end
request = function() return reqs[math.random(#reqs)] end
`)
	get.WriteString(`}
local reqs = {}
init = function(args)
  for i, p in ipairs(paths) do reqs[i] = wrk.format("GET", p) end
end
request = function() return reqs[math.random(#reqs)] end
`)
	s.postScript, s.getScript = filepath.Join(s.dir, "post.lua"), filepath.Join(s.dir, "get.lua")
	for path, body := range map[string]string{s.postScript: post.String(), s.getScript: get.String()} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// luaString is a Lua string literal of any bytes, with decimal escapes.
func luaString(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "\\%03d", c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

func (s *loadServer) metric(b *testing.B, name string) int {
	b.Helper()
	resp, err := http.Get("http://" + s.metricsAddr + "/metrics")
	if err != nil {
		return -1 // not up yet
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += int(v)
		}
	}
	return total
}

func (s *loadServer) cachedResponses(b *testing.B) int {
	return s.metric(b, "vccpki_ocsp_cached_responses")
}

func (s *loadServer) liveSignatures(b *testing.B) int {
	return s.metric(b, "vccpki_ocsp_live_signatures_total")
}

// startOpenSSLResponder runs openssl ocsp as a responder for the same CA
// and certificates (an index.txt of every serial), signing each response
// with the same delegated responder key, in two processes (-multi 2).
func startOpenSSLResponder(b *testing.B, openssl string, s *loadServer) string {
	b.Helper()
	dir := b.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			b.Fatal(err)
		}
		return p
	}
	// index.txt: status, expiry, revocation, serial, file, subject.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(s.data, "vccpki.db"))
	if err != nil {
		b.Fatal(err)
	}
	var idx strings.Builder
	cursor := store.StatusCursor{}
	for {
		page, err := st.CertificateStatuses(ctx, ca.ServicesCA, cursor, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range page {
			fmt.Fprintf(&idx, "V\t%s\t\t%s\tunknown\t/CN=%s\n", c.NotAfter.UTC().Format("060102150405Z"), strings.ToUpper(c.Serial), c.Serial)
		}
		if len(page) < 10_000 {
			break
		}
		cursor = page[len(page)-1].Cursor()
	}
	st.Close()
	index := write("index.txt", []byte(idx.String()))
	caFile := write("services.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.services.Raw}))
	rsigner := write("ocsp.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.responder.Raw}))
	// The responder key in a file, as openssl needs it: a throwaway test
	// CA's, in a directory removed after the benchmark.
	rkey := write("ocsp.key", s.responderKeyPEM)
	addr := harness.FreeAddr(b)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(openssl, "ocsp", "-index", index, "-port", port, "-rsigner", rsigner, "-rkey", rkey, "-CA", caFile, "-nmin", "60", "-multi", "2")
	// Its own process group, so that its worker processes end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	// Ready when it answers one of the benchmark's requests.
	n, _ := new(big.Int).SetString(s.serials[0], 16)
	probe := singleRequest(b, s.services, n)
	// One connection per request, with a timeout: an idle keep-alive
	// connection would wedge openssl's responder.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := client.Post("http://"+addr+"/", "application/ocsp-request", strings.NewReader(string(probe)))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if r, err := parseAnyResponse(body, n, s.services); err == nil && r == 0 {
				return addr
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("openssl ocsp did not answer within 2 minutes: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type wrkResult struct {
	requests      int
	rps, p50, p99 float64 // per second; milliseconds
	errors        string
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reLatency  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	reErrors   = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses: \d+|Socket errors:.*)$`)
)

func runWrk(b *testing.B, wrk, script, url string, conns int) wrkResult {
	b.Helper()
	out, err := exec.Command(wrk, "-t", strconv.Itoa(loadThreads), "-c", strconv.Itoa(conns), "-d", loadDuration, "--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	var r wrkResult
	if m := reRPS.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := reRequests.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(string(m[1]))
	}
	for _, m := range reLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		switch string(m[3]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if string(m[1]) == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	for _, m := range reErrors.FindAllSubmatch(out, -1) {
		r.errors += string(m[1]) + "; "
	}
	if r.rps == 0 || r.p99 == 0 {
		b.Fatalf("cannot read wrk's output:\n%s", out)
	}
	return r
}

func (r wrkResult) report(b *testing.B) {
	b.Helper()
	b.ReportMetric(r.rps, "responses/s")
	b.ReportMetric(r.p50, "p50-ms")
	b.ReportMetric(r.p99, "p99-ms")
	b.ReportMetric(0, "ns/op")
	if r.errors != "" {
		b.Errorf("wrk saw errors: %s", r.errors)
	}
}

// holdConnections opens idle connections (connected, nothing sent) and
// slow ones (a header byte every second), as a slowloris client does,
// and closes them when the returned function is called.
func holdConnections(b *testing.B, addr string, idle, slow int) func() {
	b.Helper()
	var conns []net.Conn
	for range idle + slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	done := make(chan struct{})
	go func() {
		for _, c := range conns[idle:] {
			c.Write([]byte("POST /ocsp HTTP/1.1\r\nHost: x\r\n"))
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, c := range conns[idle:] {
					c.Write([]byte("X"))
				}
			}
		}
	}()
	return func() {
		close(done)
		for _, c := range conns {
			c.Close()
		}
	}
}

// parseAnyResponse returns the status of a successful response for serial.
func parseAnyResponse(body []byte, serial *big.Int, issuer *x509.Certificate) (int, error) {
	r, err := ocsp.ParseResponseForCert(body, &x509.Certificate{SerialNumber: serial}, issuer)
	if err != nil {
		return -1, err
	}
	return r.Status, nil
}

// rssOf reads a process's resident memory from /proc, in bytes.
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// singleRequest is an OCSP request (SHA-1 CertID, no nonce) for one serial
// of issuer.
func singleRequest(b *testing.B, issuer *x509.Certificate, serial *big.Int) []byte {
	b.Helper()
	der, err := ocsp.CreateRequest(&x509.Certificate{SerialNumber: serial}, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		b.Fatal(err)
	}
	return der
}
