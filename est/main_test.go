package est

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gsest "github.com/globalsign/est"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/internal/testpki"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

var _ Issuer = (*ca.Engine)(nil)

var updateCorpus = flag.Bool("update-corpus", false, "write the request bodies real clients send to testdata/fuzz")

// testHashParams keep argon2id cheap in tests; the format and code path
// are those of production.
var testHashParams = HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

// Test users: name, password and service.
var testUsers = []struct{ user, password, service string }{
	{"argus-agent", "argus-password-1", "argus"},
	{"default-user", "default-password-1", "default"},
	{"clara-signer", "clara-password-1", "clara-signing"},
	{"vpb-device", "vpb-password-1", "vpb"},
}

func passwordOf(user string) string {
	for _, u := range testUsers {
		if u.user == user {
			return u.password
		}
	}
	panic("no test user " + user)
}

// env is the one EST server of this package's tests: the real engine on a
// real SQLite file, served over TLS on a loopback port exactly as
// vccpki serve does (tls.RequestClientCert and ClientCAs), plus a second
// listener capped at TLS 1.2 for tls-unique.
var env *testEnv

type testEnv struct {
	dir      string
	store    *sqlite.Store
	engine   *ca.Engine
	server   *Server
	addr     string // TLS 1.3
	addr12   string // TLS 1.2 at most
	rootFile string
	roots    *x509.CertPool
	// bootstrap is an external "manufacturer" CA bound to profile vpb.
	bootCA  *x509.Certificate
	bootKey crypto.Signer
	capture *bodyCapture
}

func TestMain(m *testing.M) {
	flag.Parse()
	code, err := runTests(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "est tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runTests(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "vccpki-est")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	e := &testEnv{dir: dir, capture: &bodyCapture{bodies: map[string][]byte{}}}
	if e.store, err = sqlite.Open(ctx, filepath.Join(dir, "vccpki.db")); err != nil {
		return 0, err
	}
	defer e.store.Close()
	if e.engine, err = openEngine(ctx, e.store); err != nil {
		return 0, err
	}
	for _, u := range testUsers {
		h, err := HashPassword(u.password, testHashParams)
		if err != nil {
			return 0, err
		}
		ev := store.AuditEvent{Time: time.Now(), Actor: "operator:test", Action: "est.user.add", Object: "user " + u.user, Result: "ok"}
		if err := e.store.AddESTUser(ctx, store.ESTUser{User: u.user, Service: u.service, Hash: h, CreatedAt: time.Now()}, ev); err != nil {
			return 0, err
		}
	}
	if e.bootCA, e.bootKey, err = testpki.SelfSignedCA("Acme Devices Manufacturing CA"); err != nil {
		return 0, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.server, err = New(Config{Engine: e.engine, Users: e.store, Log: log,
		Bootstrap: []BootstrapCA{{Name: "acme-devices", Certs: []*x509.Certificate{e.bootCA}, Profiles: []string{"vpb"}, Names: []string{"{id}.vpb.test"}}}})
	if err != nil {
		return 0, err
	}
	if _, err := e.engine.RenewHTTPS(ctx, "test"); err != nil {
		return 0, err
	}
	tlsCert, err := e.engine.TLSCertificate(ctx)
	if err != nil {
		return 0, err
	}
	handler := e.capture.wrap(e.server)
	for _, max := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: max, Certificates: []tls.Certificate{*tlsCert},
				ClientAuth: tls.RequestClientCert, ClientCAs: e.server.ClientCAs()}}
		go srv.ServeTLS(ln, "", "")
		defer srv.Close()
		if max == tls.VersionTLS13 {
			e.addr = ln.Addr().String()
		} else {
			e.addr12 = ln.Addr().String()
		}
	}
	e.rootFile = filepath.Join(dir, "root.pem")
	if err := os.WriteFile(e.rootFile, pemCert(e.engine.Root()), 0o644); err != nil {
		return 0, err
	}
	e.roots = x509.NewCertPool()
	e.roots.AddCert(e.engine.Root())
	env = e
	code := m.Run()
	if *updateCorpus {
		if err := e.capture.writeCorpus(); err != nil {
			return 0, err
		}
	}
	return code, nil
}

// openEngine bootstraps a hierarchy in st and opens the engine on the
// repository's profile templates.
func openEngine(ctx context.Context, st *sqlite.Store) (*ca.Engine, error) {
	profiles, err := profile.Load("../configs/profiles", ca.IssuingCAs)
	if err != nil {
		return nil, err
	}
	hc := ca.DefaultHierarchy()
	hc.Locality = "Berlin"
	cfg := ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: hc}
	kek, params, err := keys.NewKEK([]byte("est test passphrase"), keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		return nil, err
	}
	ks := keys.NewSoftware(kek, st)
	if _, err := ca.Bootstrap(ctx, st, ks, cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		return nil, err
	}
	return ca.Open(ctx, st, ks, profiles, cfg, ca.Options{})
}

// bodyCapture keeps one request body per operation and client, to seed
// the fuzz corpus with real client traffic (-update-corpus).
type bodyCapture struct {
	mu     sync.Mutex
	bodies map[string][]byte
}

func (c *bodyCapture) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *updateCorpus && r.Method == http.MethodPost {
			b, _ := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
			label, op, _ := splitPath(r.URL.Path)
			agent := "other"
			switch ua := r.UserAgent(); {
			case strings.Contains(ua, "GlobalSign"):
				agent = "globalsign"
			case strings.HasPrefix(ua, "curl"):
				agent = "curl"
			}
			c.mu.Lock()
			key := strings.Trim(label+"-"+op+"-"+agent, "-")
			if _, ok := c.bodies[key]; !ok && len(b) <= MaxBodySize {
				c.bodies[key] = b
			}
			c.mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(b)))
		}
		next.ServeHTTP(w, r)
	})
}

// writeCorpus writes each captured body as a FuzzEnrollBody seed, and the
// CertificationRequestInfo of each body that is a CSR as a
// FuzzChallengePassword seed.
func (c *bodyCapture) writeCorpus() error {
	write := func(target, name string, b []byte) error {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644)
	}
	for name, b := range c.bodies {
		if err := write("FuzzEnrollBody", name, b); err != nil {
			return err
		}
		der, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
		if err != nil {
			continue
		}
		if csr, err := x509.ParseCertificateRequest(der); err == nil {
			if err := write("FuzzChallengePassword", name, csr.RawTBSCertificateRequest); err != nil {
				return err
			}
		}
	}
	return nil
}

// --- helpers shared by the tests ---

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCSR makes a CSR for key with an optional commonName and DNS names.
func newCSR(t testing.TB, key crypto.Signer, cn string, dns ...string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// client is the globalsign est.Client for a label, with Basic
// credentials (user may be "") and an optional TLS client certificate.
func client(label, user string, cert *x509.Certificate, key crypto.Signer) *gsest.Client {
	c := &gsest.Client{Host: env.addr, AdditionalPathSegment: label, ExplicitAnchor: env.roots}
	if user != "" {
		c.Username, c.Password = user, passwordOf(user)
	}
	if cert != nil {
		c.Certificates, c.PrivateKey = []*x509.Certificate{cert}, key
	}
	return c
}

// verifyIssued checks a certificate chains to our root through the
// label's issuing CA, for the given usage.
func verifyIssued(t testing.TB, c *x509.Certificate, usage x509.ExtKeyUsage) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, n := range ca.IssuingCAs {
		ic, _ := env.engine.CACert(n)
		inter.AddCert(ic)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: env.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Errorf("issued certificate does not verify: %v", err)
	}
}

// certCount is how many certificates the store holds.
func certCount(t testing.TB) int {
	t.Helper()
	cs, err := env.store.Certificates(context.Background(), store.CertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// lastAudit returns the newest audit entry.
func lastAudit(t testing.TB) store.AuditEntry {
	t.Helper()
	var last store.AuditEntry
	if err := env.store.WalkAudit(context.Background(), func(e store.AuditEntry) error { last = e; return nil }); err != nil {
		t.Fatal(err)
	}
	return last
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
