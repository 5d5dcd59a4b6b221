package acme_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/internal/testtool"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

var _ acme.Engine = (*ca.Engine)(nil)

// env is the one ACME server of this test package, with the fake DNS
// its validator asks and the loopback ports it validates
// http-01 and tls-alpn-01 on. Tests that bind those ports run one at a
// time (no t.Parallel).
type env struct {
	dir      string
	store    *sqlite.Store
	engine   *ca.Engine
	server   *acme.Server
	https    *httptest.Server
	dirURL   string
	rootPath string
	roots    *x509.CertPool
	dns      *testDNS
	dnsAddr  string
	httpPort int // validator's http-01 port
	tlsPort  int // validator's tls-alpn-01 port
}

var testEnv *env

var b64 = acmetest.B64

func TestMain(m *testing.M) {
	e, err := newEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acme test environment:", err)
		os.Exit(1)
	}
	testEnv = e
	code := m.Run()
	e.close()
	os.Exit(code)
}

var testKDF = keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// openEngine bootstraps (or reopens) the hierarchy in dir.
func openEngine(ctx context.Context, dir string) (*sqlite.Store, *ca.Engine, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vccpki.db"))
	if err != nil {
		return nil, nil, err
	}
	profiles, err := profile.Load("../configs/profiles", ca.IssuingCAs)
	if err != nil {
		return nil, nil, err
	}
	cfg := ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: ca.DefaultHierarchy()}
	cfg.Hierarchy.Locality = "Berlin"
	pass := []byte("acme test passphrase")
	kek, params, err := keys.NewKEK(pass, testKDF)
	if err != nil {
		return nil, nil, err
	}
	if _, err := ca.Bootstrap(ctx, st, keys.NewSoftware(kek, st), cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		return nil, nil, err
	}
	e, err := ca.Open(ctx, st, keys.NewSoftware(kek, st), profiles, cfg, ca.Options{})
	return st, e, err
}

func newEnv() (*env, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vccpki-acme-test-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir}
	if e.store, e.engine, err = openEngine(ctx, dir); err != nil {
		return nil, err
	}
	ports, err := testtool.FreePorts(3)
	if err != nil {
		return nil, err
	}
	e.dnsAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
	e.httpPort, e.tlsPort = ports[1], ports[2]
	if e.dns, err = startTestDNS(e.dnsAddr); err != nil {
		return nil, err
	}
	if err := waitDNS(e.dnsAddr); err != nil {
		return nil, err
	}
	e.server, err = acme.New(ctx, e.acmeConfig(), e.engine, e.store)
	if err != nil {
		return nil, err
	}
	if e.https, err = e.serve(e.server); err != nil {
		return nil, err
	}
	e.dirURL = e.https.URL + "/acme/directory"
	e.rootPath = filepath.Join(dir, "root.pem")
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.engine.Root().Raw})
	if err := os.WriteFile(e.rootPath, rootPEM, 0o644); err != nil {
		return nil, err
	}
	e.roots = x509.NewCertPool()
	e.roots.AddCert(e.engine.Root())
	return e, nil
}

// acmeConfig is the test server's configuration; tests that need another
// start a second instance on the same store.
func (e *env) acmeConfig() acme.Config {
	logLevel := slog.LevelError
	if os.Getenv("ACME_TEST_LOG") != "" {
		logLevel = slog.LevelDebug
	}
	return acme.Config{
		Website:       "https://vcc.example/pki",
		CAAIdentities: []string{"vccpki.vcc.internal"},
		Secrets:       e.engine.SecretSealer(),
		Validator: acme.ValidatorConfig{
			DNS: e.dnsAddr, HTTPPort: e.httpPort, TLSPort: e.tlsPort,
			Timeout: 2 * time.Second, Attempts: 2,
		},
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
	}
}

// serve starts an HTTPS server for s with the hierarchy's HTTPS
// certificate, as vccpki serve does.
func (e *env) serve(s *acme.Server) (*httptest.Server, error) {
	cert, err := e.engine.TLSCertificate(context.Background())
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/acme/", acmetest.CaptureBodies(s.Handler()))
	hs := httptest.NewUnstartedServer(mux)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	hs.StartTLS()
	return hs, nil
}

func (e *env) close() {
	e.https.Close()
	e.server.Close()
	e.dns.Shutdown()
	e.store.Close()
	os.RemoveAll(e.dir)
}

// client is an HTTP client trusting the test root.
func (e *env) client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots}}}
}

// waitDNS waits until the fake DNS answers.
func waitDNS(addr string) error {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := r.LookupHost(ctx, "ready.test")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fake DNS at %s does not answer: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
