package acmeload_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
)

// server is an ACME server running in its own process, so that its CPU
// time and memory are its own.
type server struct {
	name   string
	dirURL string
	cmd    *exec.Cmd
	client *http.Client
	stderr string // file of the server's standard error; "" for the test's own
}

// startVCCPKI runs `vccpki serve` on a fresh data directory with the
// validator pointed at the fake DNS and the load generator's http-01 port.
func startVCCPKI(bin, dir, dnsAddr string, httpPort int) (*server, error) {
	profiles, _ := filepath.Abs("../../../configs/profiles")
	cfg := filepath.Join(dir, "vccpki.yaml")
	body := "data: " + filepath.Join(dir, "data") + "\nprofiles: " + profiles + "\nhierarchy:\n  locality: Berlin\n" +
		"acme:\n  orders_per_hour: 100000000\n  max_pending_authzs: 100000000\n  orders_per_address:\n    burst: 100000000\n    every: 1ns\nlog:\n  level: warn\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort))
	cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE=load test passphrase, long enough")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var banner strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "root certificate:") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	m := regexp.MustCompile(`ACME directory\s+(\S+)`).FindStringSubmatch(banner.String())
	if m == nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("vccpki serve banner:\n%s", banner.String())
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, "data", "root.pem"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	return &server{name: "vccpki", dirURL: m[1], cmd: cmd, client: httpClient(&tls.Config{RootCAs: roots})}, nil
}

// startPebble runs pebble v2.10.1's own command, built from the module,
// with its test certificate, no validation sleeps and no nonce rejection.
func startPebble(bin, dir, dnsAddr string, httpPort int) (*server, error) {
	modDir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2").Output()
	if err != nil {
		return nil, fmt.Errorf("locating pebble's module: %v", err)
	}
	src := strings.TrimSpace(string(modDir))
	ports, err := harness.Ports(2)
	if err != nil {
		return nil, err
	}
	port, tlsPort := ports[0], ports[1]
	var cfg struct {
		Pebble map[string]any `json:"pebble"`
	}
	cfg.Pebble = map[string]any{
		"listenAddress": "127.0.0.1:" + strconv.Itoa(port), "managementListenAddress": "",
		"certificate": filepath.Join(src, "test/certs/localhost/cert.pem"), "privateKey": filepath.Join(src, "test/certs/localhost/key.pem"),
		"httpPort": httpPort, "tlsPort": tlsPort, "keyAlgorithm": "ecdsa",
		"retryAfter": map[string]int{"authz": 0, "order": 0},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", cfgPath, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	// Kept after the run (not in dir, which the benchmark removes): its
	// goroutines land here if it stalls (server.stalled).
	errFile, err := os.CreateTemp("", "acmeload-pebble-*.stderr")
	if err != nil {
		return nil, err
	}
	defer errFile.Close()
	cmd.Stdout, cmd.Stderr = io.Discard, errFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	rootPEM, err := os.ReadFile(filepath.Join(src, "test/certs/pebble.minica.pem"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	s := &server{name: "pebble", dirURL: "https://localhost:" + strconv.Itoa(port) + "/dir", cmd: cmd, client: httpClient(&tls.Config{RootCAs: roots}), stderr: errFile.Name()}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := s.client.Get(s.dirURL)
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return nil, fmt.Errorf("pebble does not answer at %s: %v", s.dirURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpClient(tc *tls.Config) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tc, MaxIdleConnsPerHost: 64,
		DialContext: (&net.Dialer{}).DialContext, // pebble's certificate names localhost
	}}
}

func (s *server) stop() {
	if s.stderr != "" {
		defer os.Remove(s.stderr) // kept only when the run stalled
	}
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
	}
}

// stalled records what a stalled run was doing and ends the server: the
// load generator's goroutines go to a file, the server (a Go program) dumps
// its own on SIGQUIT, and it is then killed, which fails every request
// still waiting on it. It returns where to read both.
func (s *server) stalled() string {
	var where []string
	if f, err := os.CreateTemp("", "acmeload-"+s.name+"-client-*.goroutines"); err == nil {
		pprof.Lookup("goroutine").WriteTo(f, 2)
		f.Close()
		where = append(where, "load generator goroutines in "+f.Name())
	}
	s.cmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	if s.stderr != "" {
		where = append(where, s.name+"'s goroutines (SIGQUIT) in "+s.stderr)
	} else {
		where = append(where, s.name+"'s goroutines (SIGQUIT) on standard error above")
	}
	return strings.Join(where, "; ")
}

// usage is a process's CPU time so far and its peak resident memory.
type usage struct {
	cpu     time.Duration
	peakRSS int64 // bytes (VmHWM)
}

func procUsage(pid int) (usage, error) {
	var u usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the ")" that ends the command name: utime is the 14th
	// field of the whole line, stime the 15th (proc(5)); clock ticks are
	// 100 per second on Linux.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	u.cpu = time.Duration(ut+st) * 10 * time.Millisecond
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	if m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status); m != nil {
		kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
		u.peakRSS = kb << 10
	}
	return u, nil
}
