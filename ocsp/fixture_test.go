package ocsp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/ocsp"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

var _ ocsp.Engine = (*ca.Engine)(nil)

// testKDF keeps argon2id cheap in tests.
var testKDF = keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

const testPassphrase = "ocsp test passphrase, long enough"

// stack is a CA with its store on a real SQLite file, a responder running
// its background work, and an HTTP server on a real loopback port.
type stack struct {
	dir       string
	dbPath    string
	store     *sqlite.Store
	engine    *ca.Engine
	responder *ocsp.Responder
	server    *httptest.Server
	mux       *http.ServeMux
	url       string // base URL, no trailing slash
	root      *x509.Certificate
	services  *x509.Certificate
	codeSign  *x509.Certificate
	stop      func()
}

type stackOptions struct {
	crlShards int
	ocsp      ocsp.Config
	shareOCSP bool                      // keep pre-signed responses in the store (ocsp.Config.Shared)
	clock     *clock                    // nil: the real clock
	hierarchy func(*ca.HierarchyConfig) // changes to the default hierarchy, or nil
	// wrapKeys, when set, wraps the engine's key source (a slow token).
	wrapKeys func(keys.Source) keys.Source
}

// clock is a test clock for the engine and the responder: real time
// moved by an offset, or frozen.
type clock struct {
	offset atomic.Int64
	frozen atomic.Int64 // unix nanoseconds; 0: not frozen
}

func (c *clock) now() time.Time {
	if f := c.frozen.Load(); f != 0 {
		return time.Unix(0, f)
	}
	return time.Now().Add(time.Duration(c.offset.Load()))
}

func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *clock) freeze()                 { c.frozen.Store(c.now().UnixNano()) }

func newStack(tb testing.TB, opts stackOptions) *stack {
	tb.Helper()
	s, err := startStack(tb.TempDir(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.stop)
	return s
}

// startStack is newStack without a testing.TB, for TestMain.
func startStack(dir string, opts stackOptions) (*stack, error) {
	ctx := context.Background()
	s := &stack{dir: dir, dbPath: filepath.Join(dir, "vccpki.db")}
	st, err := sqlite.Open(ctx, s.dbPath)
	if err != nil {
		return nil, err
	}
	s.store = st
	// The server's URL is the public URL in certificates: listen first.
	s.mux = http.NewServeMux()
	s.server = httptest.NewUnstartedServer(s.mux)
	s.url = "http://" + s.server.Listener.Addr().String()
	hc := ca.DefaultHierarchy()
	hc.Locality = "Berlin"
	if opts.hierarchy != nil {
		opts.hierarchy(&hc)
	}
	cfg := ca.Config{PublicURL: s.url, Hierarchy: hc, CRLShards: opts.crlShards}
	oc := opts.ocsp
	if opts.shareOCSP {
		oc.Shared, oc.SharedCRLs = st, st
	}
	if opts.clock != nil {
		cfg.Now, oc.Now = opts.clock.now, opts.clock.now
	}
	kek, params, err := keys.NewKEK([]byte(testPassphrase), testKDF)
	if err != nil {
		return nil, err
	}
	if _, err := ca.Bootstrap(ctx, st, keys.NewSoftware(kek, st), cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		return nil, err
	}
	profiles, err := profile.Load("../configs/profiles", ca.IssuingCAs)
	if err != nil {
		return nil, err
	}
	var src keys.Source = keys.NewSoftware(kek, st)
	if opts.wrapKeys != nil {
		src = opts.wrapKeys(src)
	}
	if s.engine, err = ca.Open(ctx, st, src, profiles, cfg, ca.Options{}); err != nil {
		return nil, err
	}
	s.root = s.engine.Root()
	s.services, _ = s.engine.CACert(ca.ServicesCA)
	s.codeSign, _ = s.engine.CACert(ca.CodeSigningCA)
	if os.Getenv("OCSP_TEST_LOG") != "" {
		oc.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if s.responder, err = ocsp.New(s.engine, oc); err != nil {
		return nil, err
	}
	s.responder.Register(s.mux)
	s.server.Config.Handler = s.responder.Handler(s.mux)
	s.server.Start()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.responder.Run(runCtx); close(done) }()
	s.stop = func() {
		cancel()
		<-done // the background work has stopped before the store closes
		s.server.Close()
		st.Close()
	}
	select {
	case <-s.responder.Ready():
	case <-time.After(time.Minute):
		s.stop()
		return nil, fmt.Errorf("the responder's first pre-signing pass did not finish")
	}
	return s, nil
}

// issue issues a certificate for a DNS name of the argus profile (or a
// code signing one) through the engine.
func (s *stack) issue(tb testing.TB, profileName, name string) *ca.Issued {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{DNSNames: []string{name}}
	if profileName == "clara-signing" {
		tmpl = &x509.CertificateRequest{}
		tmpl.Subject.CommonName = name
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		tb.Fatal(err)
	}
	iss, err := s.engine.Issue(context.Background(), ca.IssueRequest{Profile: profileName, CSR: csr, Requester: ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}})
	if err != nil {
		tb.Fatal(err)
	}
	return iss
}

// revokeElsewhere revokes through a second store handle and a key-less
// engine, as the vccpki revoke command does from its own process.
func (s *stack) revokeElsewhere(tb testing.TB, serial *big.Int, reason ca.RevocationReason) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, s.dbPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	hc := ca.DefaultHierarchy()
	hc.Locality = "Berlin"
	e, err := ca.Open(ctx, st, nil, nil, ca.Config{PublicURL: s.url, Hierarchy: hc}, ca.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Revoke(ctx, serial, reason, ca.Requester{Protocol: ca.ProtocolOperator, Subject: "elsewhere"}); err != nil {
		tb.Fatal(err)
	}
}

func (s *stack) post(tb testing.TB, body []byte, contentType string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/ocsp", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(tb, req)
}

func (s *stack) get(tb testing.TB, path string, header ...string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(tb, req)
}

func do(tb testing.TB, req *http.Request) (*http.Response, []byte) {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}

// writeFiles writes the root, the Services CA and the given certificates
// as PEM files into a new directory, for openssl.
func (s *stack) writeFiles(tb testing.TB, certs map[string]*x509.Certificate) string {
	tb.Helper()
	dir := tb.TempDir()
	all := map[string]*x509.Certificate{"root": s.root, "services": s.services, "code-signing": s.codeSign}
	for n, c := range certs {
		all[n] = c
	}
	for n, c := range all {
		if err := os.WriteFile(filepath.Join(dir, n+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// eventually polls cond until it holds, for at most a generous 15 s: the
// tests check that something happens, the benchmarks how fast.
func eventually(tb testing.TB, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 15*time.Second {
			tb.Fatalf("%s: did not happen within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}
