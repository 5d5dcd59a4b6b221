package tsa

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

var _ Stamper = (*ca.Engine)(nil)

// The package's tests share one TSA: a hierarchy in a fresh SQLite file,
// the engine with time-stamping enabled, and this handler on a real
// listener.
var (
	srv       *httptest.Server
	tsaURL    string
	engine    *ca.Engine
	records   store.TimestampStore
	testDir   string
	rootPEM   string // file with the root certificate
	chainPEM  string // file with the TSA and Code Signing CA certificates
	policyOID = mustOID("1.3.6.1.4.1.32473.3161.1")
	// A UUID arc (2.25) beyond 64 bits: openssl reads it, Go's
	// encoding/asn1 (and so digitorus/timestamp) cannot.
	otherOID = mustOID("2.25.23016277693900561948290480946429437912")
)

func testTSAConfig() Config {
	return Config{Policies: []x509.OID{policyOID, otherOID}, Accuracy: 1500 * time.Millisecond}
}

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tsa tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vccpki-tsa")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	testDir = dir
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vccpki.db"))
	if err != nil {
		return 0, err
	}
	defer st.Close()
	kek, params, err := keys.NewKEK([]byte("tsa test passphrase"), keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		return 0, err
	}
	testKeys, testStore = keys.NewSoftware(kek, st), st
	if _, err := ca.Bootstrap(ctx, st, testKeys, engineConfig(nil), "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		return 0, err
	}
	if engine, err = ca.Open(ctx, st, testKeys, nil, engineConfig(nil), ca.Options{}); err != nil {
		return 0, err
	}
	records = st
	if err := engine.EnableTimestamps(ctx, st); err != nil {
		return 0, err
	}
	h, err := New(engine, testTSAConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /tsa", h)
	srv = httptest.NewServer(mux)
	defer srv.Close()
	tsaURL = srv.URL + "/tsa"
	rootPEM = filepath.Join(dir, "root.pem")
	chainPEM = filepath.Join(dir, "chain.pem")
	tsaCert, _ := engine.CACert(ca.TSAName)
	if err := writePEM(rootPEM, engine.Root().Raw); err != nil {
		return 0, err
	}
	if err := writePEM(chainPEM, append([][]byte{tsaCert.Raw}, rawChain()...)...); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

var (
	testKeys  keys.Source
	testStore store.Store
)

func engineConfig(now func() time.Time) ca.Config {
	hc := ca.DefaultHierarchy()
	hc.Locality = "Berlin"
	return ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: hc, Now: now}
}

// openEngine opens another engine on the package's store and keys.
func openEngine(t *testing.T, now func() time.Time) *ca.Engine {
	t.Helper()
	e, err := ca.Open(t.Context(), testStore, testKeys, nil, engineConfig(now), ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func rawChain() [][]byte {
	var out [][]byte
	for _, c := range engine.Chain(ca.TSAName) {
		out = append(out, c.Raw)
	}
	return out
}

func writePEM(path string, ders ...[]byte) error {
	var b []byte
	for _, d := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return os.WriteFile(path, b, 0o644)
}

func mustOID(s string) x509.OID {
	oid, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return oid
}
