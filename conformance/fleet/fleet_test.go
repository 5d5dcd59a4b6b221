package fleet_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/fleet"
)

// simService is one service of the simulated fleet: a TLS server on its
// own loopback address that presents a self-signed certificate until its
// client has written one, and reloads whenever the client writes a new one.
type simService struct {
	name, client, ip string
	addr             string // ip:port of its TLS listener
	dir              string // the client's DIR
	certFile         string
	keyFile          string

	mu       sync.Mutex
	current  *tls.Certificate
	loadedAt time.Time // modification time of the files loaded
}

func (s *simService) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ci, err1 := os.Stat(s.certFile)
	ki, err2 := os.Stat(s.keyFile)
	if err1 == nil && err2 == nil {
		mod := ci.ModTime()
		if ki.ModTime().After(mod) {
			mod = ki.ModTime()
		}
		if !mod.Equal(s.loadedAt) {
			// A client writes the certificate and the key one after the
			// other: a pair that does not match yet is tried again later.
			if c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile); err == nil {
				s.current, s.loadedAt = &c, mod
			}
		}
	}
	return s.current, nil
}

func (s *simService) serve(t *testing.T, ln net.Listener) {
	cfg := &tls.Config{GetCertificate: s.getCertificate, MinVersion: tls.VersionTLS12}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(conn, cfg)
			if tc.Handshake() == nil {
				io.Copy(io.Discard, tc)
			}
		}()
	}
}

// presented is the leaf the service presents now.
func (s *simService) presented(t *testing.T) *x509.Certificate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	chain, err := fleet.Probe(ctx, fleet.Endpoint{Address: s.addr, SNI: s.name + ".test"})
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	return chain[0]
}

func selfSigned(t *testing.T, name string) *tls.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// TestFleet is the end-to-end scenario: seven TLS services on
// loopback with self-signed certificates; discover says all need action;
// each is enrolled with the recipe `vccpki enrol` prints, run for real
// (lego, certbot, estclient); discover then says all are covered. With
// two-minute test profiles the clients renew by themselves, lego following
// ARI; then an emergency reissue of one service and of the whole issuer is
// picked up by the clients' renewal loops without anyone touching them.
func TestFleet(t *testing.T) {
	certbot := harness.Tool(t, "certbot")
	harness.Tool(t, "openssl")
	lego, estclient := harness.Lego(t), harness.ESTClient(t)
	t.Parallel()

	fleetSpec := []struct{ name, client string }{
		{"argus", "lego"}, {"covina", "lego"}, {"clara", "estclient"}, {"veritas", "certbot"},
		{"vpb", "estclient"}, {"scraper", "certbot"}, {"aat", "estclient"},
	}
	// Each service has its own loopback address, resolved by the fake
	// DNS, so every ACME client can answer http-01 on the same port at
	// the same time.
	cs, dnsAddr := harness.FakeDNS(t)
	httpPort := harness.FreePort(t)

	work := t.TempDir()
	var sims []*simService
	var registry strings.Builder
	registry.WriteString("services:\n")
	for i, f := range fleetSpec {
		s := &simService{name: f.name, client: f.client, ip: fmt.Sprintf("127.0.0.%d", 11+i), dir: filepath.Join(work, f.name)}
		s.current = selfSigned(t, f.name+".test")
		captureCorpus(t, "FuzzPresentedCertificate", "self-signed-"+f.name, s.current.Certificate[0])
		switch f.client {
		case "lego":
			s.certFile = filepath.Join(s.dir, "certificates", f.name+".test.crt")
			s.keyFile = filepath.Join(s.dir, "certificates", f.name+".test.key")
		case "certbot":
			s.certFile = filepath.Join(s.dir, "config", "live", f.name, "fullchain.pem")
			s.keyFile = filepath.Join(s.dir, "config", "live", f.name, "privkey.pem")
		default:
			s.certFile, s.keyFile = filepath.Join(s.dir, "fullchain.pem"), filepath.Join(s.dir, "key.pem")
		}
		ln, err := net.Listen("tcp", s.ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		s.addr = ln.Addr().String()
		go s.serve(t, ln)
		cs.AddDNSARecord(f.name+".test.", []string{s.ip})
		protocol := "acme"
		if f.client == "estclient" {
			protocol = "est"
		}
		fmt.Fprintf(&registry, "  - {name: %s, protocol: %s, client: %s, endpoints: [{address: \"%s\", sni: %s.test}]}\n", f.name, protocol, f.client, s.addr, f.name)
		sims = append(sims, s)
	}
	servicesFile := filepath.Join(work, "services.yaml")
	if err := os.WriteFile(servicesFile, []byte(registry.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	captureCorpus(t, "FuzzParseRegistry", "testfleet", []byte(registry.String()))
	profiles, err := filepath.Abs("testdata/fleet-profiles")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(work, "vccpki.yaml")
	body := "data: data\nprofiles: " + profiles + "\nhierarchy:\n  locality: Berlin\n" +
		"fleet:\n  services: " + servicesFile + "\n  refresh: 10s\n  probe_timeout: 3s\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := harness.StartServer(t, cfg, "--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort))
	if !strings.Contains(srv.Banner, "Fleet            7 services") {
		t.Fatalf("banner has no fleet line:\n%s", srv.Banner)
	}

	discover := func() (*fleet.Report, int, string) {
		t.Helper()
		out, errOut, code := harness.Run(t, "discover", "--config", cfg, "--json")
		var rep fleet.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("discover --json: exit %d: %v\n%s%s", code, err, out, errOut)
		}
		table, _, _ := harness.Run(t, "discover", "--config", cfg)
		return &rep, code, table
	}

	// 1. Before enrolment: every service presents a self-signed certificate.
	rep, code, table := discover()
	t.Logf("discover before enrolment:\n%s", table)
	if code != 3 || rep.NotCovered != 7 {
		t.Fatalf("discover before enrolment: exit %d, %d not covered; want 3 and 7", code, rep.NotCovered)
	}
	for _, s := range rep.Services {
		if e := s.Endpoints[0]; !e.Reachable || e.Origin != fleet.OriginSelfSigned || !strings.Contains(e.Action, "vccpki enrol "+s.Name) {
			t.Errorf("%s before enrolment: %+v", s.Name, e)
		}
	}
	waitMetric(t, srv.Metrics, "vccpki_fleet_services_not_covered 7")

	// 2. Enrol every service and run its recipe for real, all at once.
	env := func(s *simService) []string {
		return append(os.Environ(), "DIR="+s.dir, "LEGO="+lego, "CERTBOT="+certbot, "ESTCLIENT="+estclient, "RELOAD=true",
			"HTTP_LISTEN="+s.ip+":"+strconv.Itoa(httpPort), "HTTP_ADDRESS="+s.ip, "HTTP_PORT="+strconv.Itoa(httpPort), "ARI_WAIT=4s")
	}
	recipes := map[string]string{}
	for _, s := range sims {
		dir := filepath.Join(work, "recipe-"+s.name)
		out, errOut, code := harness.Run(t, "enrol", s.name, "--config", cfg, "--server", srv.HTTPSURL, "--out", dir)
		if code != 0 {
			t.Fatalf("enrol %s: exit %d\n%s%s", s.name, code, out, errOut)
		}
		if !strings.Contains(out, "vccpki-renew-"+s.name+".timer") || !regexp.MustCompile(`(?m)^\S.* root /etc/vccpki/`+s.name+`/renew.sh`).MatchString(out) {
			t.Errorf("enrol %s prints no timer or cron line:\n%s", s.name, out)
		}
		recipes[s.name] = dir
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range sims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("sh", filepath.Join(recipes[s.name], "obtain.sh"))
			cmd.Env = env(s)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s obtain.sh: %v\n%s", s.name, err, out)
			}
		}()
	}
	wg.Wait()
	t.Logf("seven recipes ran in parallel in %v", time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}
	first := map[string]*x509.Certificate{}
	for _, s := range sims {
		first[s.name] = s.presented(t)
		captureCorpus(t, "FuzzPresentedCertificate", s.client+"-"+s.name, first[s.name].Raw)
		if s.client != "certbot" {
			continue
		}
		// certbot has no ARI: the recipe sets its renewal point from the profile.
		conf, err := os.ReadFile(filepath.Join(s.dir, "config", "renewal", s.name+".conf"))
		if err != nil || !regexp.MustCompile(`(?m)^renew_before_expiry = 84 seconds$`).Match(conf) {
			t.Errorf("%s: certbot's renewal configuration lacks the profile's renew_before_expiry: %v\n%s", s.name, err, conf)
		}
	}
	rep, code, table = discover()
	t.Logf("discover after enrolment:\n%s", table)
	if code != 0 || rep.NotCovered != 0 {
		t.Fatalf("discover after enrolment: exit %d, %d not covered\n%s", code, rep.NotCovered, table)
	}
	for _, s := range rep.Services {
		if e := s.Endpoints[0]; e.Origin != fleet.OriginOurs || e.Profile != s.Name || e.OCSP != "good" || !e.NamesMatch {
			t.Errorf("%s after enrolment: %+v", s.Name, e)
		}
	}
	waitMetric(t, srv.Metrics, "vccpki_fleet_services_not_covered 0")

	// 3. The renewal loops: what the systemd timer does, every few seconds.
	ctx, stop := context.WithCancel(context.Background())
	logs := map[string]*harness.SyncBuffer{}
	var loops sync.WaitGroup
	for _, s := range sims {
		logs[s.name] = &harness.SyncBuffer{}
		loops.Add(1)
		go func() {
			defer loops.Done()
			for ctx.Err() == nil {
				cmd := exec.CommandContext(ctx, "sh", filepath.Join(recipes[s.name], "renew.sh"))
				cmd.Env = env(s)
				out, err := cmd.CombinedOutput()
				fmt.Fprintf(logs[s.name], "--- %s renew.sh: %v\n%s", time.Now().Format("15:04:05"), err, out)
				select {
				case <-ctx.Done():
				case <-time.After(3 * time.Second):
				}
			}
		}()
	}
	t.Cleanup(func() {
		stop()
		loops.Wait()
		if t.Failed() {
			for _, s := range sims {
				t.Logf("%s renewal log:\n%s", s.name, logs[s.name])
			}
		}
	})

	// Each client renews by itself, before its certificate expires.
	renewedAfter := map[string]time.Duration{}
	took := waitAll(t, sims, 150*time.Second, func(s *simService, c *x509.Certificate) bool {
		if c.SerialNumber.Cmp(first[s.name].SerialNumber) == 0 {
			if time.Now().After(c.NotAfter) {
				t.Errorf("%s presents an expired certificate: its client did not renew", s.name)
			}
			return false
		}
		renewedAfter[s.name] = c.NotBefore.Sub(first[s.name].NotBefore)
		return true
	})
	t.Logf("every client renewed by itself within %v; new certificate issued this long after the first: %v", took.Round(time.Second), renewedAfter)
	// Not at the first timer run: lego waits for the ARI window (12.5s
	// after notBefore, 7.5s after issuance), certbot and the EST script
	// for the middle of the window (84s before expiry, 36s after issuance).
	for _, s := range sims {
		want := 30 * time.Second
		if s.client == "lego" {
			want = 7 * time.Second
		}
		if renewedAfter[s.name] < want {
			t.Errorf("%s renewed %v after the first certificate; its window opens %v after", s.name, renewedAfter[s.name], want)
		}
	}
	for _, s := range sims[:2] { // lego: argus and covina
		if !strings.Contains(logs[s.name].String(), "renewalInfo endpoint indicates that renewal is needed") {
			t.Errorf("%s: lego renewed without ARI saying so:\n%s", s.name, logs[s.name])
		}
	}

	// 4. Emergency reissue of one service: its client picks it up.
	before := sims[0].presented(t)
	out, errOut, code := harness.Run(t, "reissue", "--config", cfg, "--service", "argus", "--reason", "keyCompromise")
	if code != 0 || !strings.Contains(out, "certificates revoked (keyCompromise)") {
		t.Fatalf("reissue --service argus: exit %d\n%s%s", code, out, errOut)
	}
	reissued := time.Now()
	waitAll(t, sims[:1], 60*time.Second, func(s *simService, c *x509.Certificate) bool {
		return c.SerialNumber.Cmp(before.SerialNumber) != 0 && c.NotBefore.Add(5*time.Second).After(reissued.Add(-time.Second))
	})
	t.Logf("MEASURE reissue --service argus: the argus client holds a new certificate %v after the revocation",
		time.Since(reissued).Round(100*time.Millisecond))

	// 5. Emergency reissue of the issuing CA's certificates: the whole fleet.
	old := map[string]*x509.Certificate{}
	for _, s := range sims {
		old[s.name] = s.presented(t)
	}
	out, errOut, code = harness.Run(t, "reissue", "--config", cfg, "--issuer", "services")
	if code != 0 {
		t.Fatalf("reissue --issuer services: exit %d\n%s%s", code, out, errOut)
	}
	reissued = time.Now()
	perService := map[string]time.Duration{}
	byOCSP := 0 // certbot and EST clients that renewed because OCSP said revoked
	took = waitAll(t, sims, 90*time.Second, func(s *simService, c *x509.Certificate) bool {
		if c.SerialNumber.Cmp(old[s.name].SerialNumber) == 0 {
			return false
		}
		if _, ok := perService[s.name]; !ok {
			perService[s.name] = time.Since(reissued)
			// certbot and the EST script renew on their own only 84s
			// before expiry: earlier, only OCSP's "revoked" made them.
			issuedAt := c.NotBefore.Add(5 * time.Second)
			if s.client != "lego" {
				if issuedAt.Before(old[s.name].NotAfter.Add(-84 * time.Second)) {
					byOCSP++
				} else {
					t.Logf("%s: the reissue came after its own renewal point; OCSP was not needed", s.name)
				}
			}
		}
		return true
	})
	t.Logf("MEASURE reissue --issuer services: all 7 clients hold new certificates %v after the revocation (per service: %v)",
		took.Round(100*time.Millisecond), perService)
	if byOCSP == 0 {
		t.Error("no certbot or EST client renewed before its own renewal point: none followed OCSP")
	}
	_, code, table = discover()
	if code != 0 {
		t.Errorf("discover after the reissue: exit %d\n%s", code, table)
	}
}

// waitAll polls every service until done says its presented certificate
// is the one wanted, and returns how long that took.
func waitAll(t *testing.T, sims []*simService, limit time.Duration, done func(*simService, *x509.Certificate) bool) time.Duration {
	t.Helper()
	start := time.Now()
	pending := map[string]*simService{}
	for _, s := range sims {
		pending[s.name] = s
	}
	for len(pending) > 0 {
		for name, s := range pending {
			if done(s, s.presented(t)) {
				delete(pending, name)
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Since(start) > limit {
			var names []string
			for n := range pending {
				names = append(names, n)
			}
			t.Fatalf("after %v still waiting for %v", limit, names)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return time.Since(start)
}

// waitMetric polls the metrics URL until it holds line.
func waitMetric(t *testing.T, metricsURL, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var body []byte
	for time.Now().Before(deadline) {
		resp, err := http.Get(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(body, []byte("\n"+line+"\n")) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	var fleetLines []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "vccpki_fleet") {
			fleetLines = append(fleetLines, l)
		}
	}
	t.Fatalf("/metrics never showed %q:\n%s", line, strings.Join(fleetLines, "\n"))
}

// captureCorpus writes data as a seed of a fleet fuzz target when
// VCCPKI_CAPTURE_CORPUS is set (go test -run TestFleet with it, then
// commit fleet/testdata/fuzz).
func captureCorpus(t *testing.T, target, name string, data []byte) {
	t.Helper()
	if os.Getenv("VCCPKI_CAPTURE_CORPUS") == "" {
		return
	}
	dir := filepath.Join("..", "..", "fleet", "testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFleetCommandRefusals: the fleet commands' usage errors, and the
// configuration's fleet section.
func TestFleetCommandRefusals(t *testing.T) {
	t.Parallel()
	cfg, _ := harness.Config(t, "")
	reg := "../../configs/services.yaml"
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"enrol without a service", []string{"enrol", "--config", cfg}, 2, "needs the service name first"},
		{"enrol of an unknown service", []string{"enrol", "nope", "--config", cfg, "--services", reg}, 2, `no service "nope" in the registry`},
		{"enrol without a registry", []string{"enrol", "argus", "--config", cfg, "--services", "/nonexistent.yaml"}, 1, "service registry"},
		{"reissue without a target", []string{"reissue", "--config", cfg}, 2, "exactly one of --service NAME and --issuer CA"},
		{"reissue of both", []string{"reissue", "--config", cfg, "--service", "argus", "--issuer", "services"}, 2, "exactly one of"},
		{"reissue of an unknown issuer", []string{"reissue", "--config", cfg, "--issuer", "root"}, 2, `"root" is not an issuing CA`},
		{"reissue with a bad reason", []string{"reissue", "--config", cfg, "--service", "argus", "--reason", "whim"}, 1, "not a revocation reason"},
		{"discover of an unknown service", []string{"discover", "--config", cfg, "--services", reg, "--service", "nope"}, 2, `no service "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := harness.Run(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr %q; want %q", code, tc.code, errOut, tc.stderr)
			}
		})
	}
	if out, _, code := harness.Run(t, "enrol", "--help"); code != 0 || !strings.Contains(out, "-server") {
		t.Errorf("enrol --help: %d\n%s", code, out)
	}
}
