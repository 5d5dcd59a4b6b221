package acmetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/internal/testtool"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

// Env is an in-process ACME server on a fresh hierarchy in a temporary
// directory (a real SQLite store), served over HTTPS with the
// hierarchy's own certificate, validating http-01 and tls-alpn-01 on two
// free loopback ports and asking the DNS server at DNSAddr. The in-process
// tests of acme/ and the client tests of conformance/acme share it.
type Env struct {
	Dir      string
	Store    *sqlite.Store
	Engine   *ca.Engine
	Server   *acme.Server
	HTTPS    *httptest.Server
	DirURL   string
	RootPath string // the root certificate, PEM
	Roots    *x509.CertPool
	DNSAddr  string
	HTTPPort int // the validator's http-01 port
	TLSPort  int // the validator's tls-alpn-01 port
}

// testKDF keeps the key-encryption KDF cheap in tests.
var testKDF = keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// OpenEngine bootstraps (or reopens) a hierarchy in dir with the profiles
// of profilesDir.
func OpenEngine(ctx context.Context, dir, profilesDir string) (*sqlite.Store, *ca.Engine, error) {
	return OpenEngineWith(ctx, dir, profilesDir, nil)
}

// OpenEngineWith is OpenEngine with prepare run on the store between the
// bootstrap and opening the engine (organisations its profiles need).
func OpenEngineWith(ctx context.Context, dir, profilesDir string, prepare func(store.Store) error) (*sqlite.Store, *ca.Engine, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vccpki.db"))
	if err != nil {
		return nil, nil, err
	}
	profiles, err := profile.Load(profilesDir, ca.IssuingCAs)
	if err != nil {
		return nil, nil, err
	}
	cfg := ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: ca.DefaultHierarchy()}
	cfg.Hierarchy.Locality = "Berlin"
	kek, params, err := keys.NewKEK([]byte("acme test passphrase"), testKDF)
	if err != nil {
		return nil, nil, err
	}
	if _, err := ca.Bootstrap(ctx, st, keys.NewSoftware(kek, st), cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		return nil, nil, err
	}
	if prepare != nil {
		if err := prepare(st); err != nil {
			return nil, nil, err
		}
	}
	e, err := ca.Open(ctx, st, keys.NewSoftware(kek, st), profiles, cfg, ca.Options{})
	return st, e, err
}

// NewEnv starts an Env whose validator asks the DNS server at dnsAddr.
func NewEnv(ctx context.Context, profilesDir, dnsAddr string) (*Env, error) {
	return NewEnvWith(ctx, profilesDir, dnsAddr, nil)
}

// NewEnvWith is NewEnv with prepare (see OpenEngineWith).
func NewEnvWith(ctx context.Context, profilesDir, dnsAddr string, prepare func(store.Store) error) (*Env, error) {
	dir, err := os.MkdirTemp("", "vccpki-acme-test-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, DNSAddr: dnsAddr}
	if e.Store, e.Engine, err = OpenEngineWith(ctx, dir, profilesDir, prepare); err != nil {
		return nil, err
	}
	ports, err := testtool.FreePorts(2)
	if err != nil {
		return nil, err
	}
	e.HTTPPort, e.TLSPort = ports[0], ports[1]
	if e.Server, err = acme.New(ctx, e.Config(), e.Engine, e.Store); err != nil {
		return nil, err
	}
	if e.HTTPS, err = e.Serve(e.Server); err != nil {
		return nil, err
	}
	e.DirURL = e.HTTPS.URL + "/acme/directory"
	e.RootPath = filepath.Join(dir, "root.pem")
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.Engine.Root().Raw})
	if err := os.WriteFile(e.RootPath, rootPEM, 0o644); err != nil {
		return nil, err
	}
	e.Roots = x509.NewCertPool()
	e.Roots.AddCert(e.Engine.Root())
	return e, nil
}

// Config is the test server's configuration; tests that need another
// start a second instance on the same store. ACME_TEST_LOG=1 logs at
// debug level.
func (e *Env) Config() acme.Config {
	logLevel := slog.LevelError
	if os.Getenv("ACME_TEST_LOG") != "" {
		logLevel = slog.LevelDebug
	}
	return acme.Config{
		Website:       "https://vcc.example/pki",
		CAAIdentities: []string{"vccpki.vcc.internal"},
		Secrets:       e.Engine.SecretSealer(),
		Validator: acme.ValidatorConfig{
			DNS: e.DNSAddr, HTTPPort: e.HTTPPort, TLSPort: e.TLSPort,
			Timeout: 2 * time.Second, Attempts: 2,
		},
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
	}
}

// Serve starts an HTTPS server for s with the hierarchy's HTTPS
// certificate, as vccpki serve does.
func (e *Env) Serve(s *acme.Server) (*httptest.Server, error) {
	cert, err := e.Engine.TLSCertificate(context.Background())
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/acme/", CaptureBodies(s.Handler()))
	hs := httptest.NewUnstartedServer(mux)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	hs.StartTLS()
	return hs, nil
}

// Instance starts another server on the same engine and store, with the
// configuration edit changes (several instances behind one database), and
// returns its directory URL; t's cleanup stops it.
func (e *Env) Instance(t testing.TB, edit func(*acme.Config)) string {
	t.Helper()
	cfg := e.Config()
	edit(&cfg)
	srv, err := acme.New(context.Background(), cfg, e.Engine, e.Store)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := e.Serve(srv)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return hs.URL + "/acme/directory"
}

// Close stops the servers and removes the directory.
func (e *Env) Close() {
	e.HTTPS.Close()
	e.Server.Close()
	e.Store.Close()
	os.RemoveAll(e.Dir)
}

// Client is an HTTP client trusting the test root.
func (e *Env) Client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.Roots}}}
}
