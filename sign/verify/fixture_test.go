package verify_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
	"github.com/vcc/vccpki/tsa"
)

var testPolicy, _ = x509.ParseOID("1.3.6.1.4.1.32473.3161.1")

var testKDF = keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// pki is a CA hierarchy on a real SQLite file, with the real TSA handler
// and CRLs on a loopback server whose URL is the CA's public URL.
type pki struct {
	url    string
	engine *ca.Engine // real time
	past   *ca.Engine // the clock 400 days back: its certificates have expired
	later  *ca.Engine // the clock an hour ahead: its revocations come after a signature
	ending *ca.Engine // the clock a year less endingIn back: its end-entity certificates expire endingIn from now
}

// endingIn is how long the certificates of pki.ending remain valid (the
// profiles' validity is one year).
const endingIn = 10 * time.Minute

// The hierarchy is created 500 days ago so that the past engine can
// issue and time-stamp.
const (
	bootAgo = 500 * 24 * time.Hour
	pastAgo = 400 * 24 * time.Hour
)

func shifted(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }

func newPKI(t testing.TB) *pki {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{url: "http://" + l.Addr().String()}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, params, err := keys.NewKEK([]byte("sign test passphrase"), testKDF)
	if err != nil {
		t.Fatal(err)
	}
	ks := keys.NewSoftware(kek, st)
	profiles, err := profile.Load("../../configs/profiles", ca.IssuingCAs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(now func() time.Time) ca.Config {
		hc := ca.DefaultHierarchy()
		hc.Locality = "Berlin"
		return ca.Config{PublicURL: p.url, Hierarchy: hc, Now: now}
	}
	if _, err := ca.Bootstrap(ctx, st, ks, cfg(shifted(-bootAgo)), "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		t.Fatal(err)
	}
	open := func(now func() time.Time) *ca.Engine {
		e, err := ca.Open(ctx, st, ks, profiles, cfg(now), ca.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.EnableTimestamps(ctx, st); err != nil {
			t.Fatal(err)
		}
		return e
	}
	p.engine, p.past, p.later = open(time.Now), open(shifted(-pastAgo)), open(shifted(time.Hour))
	p.ending = open(shifted(-(365*24*time.Hour - endingIn)))
	mux := http.NewServeMux()
	for path, e := range map[string]*ca.Engine{"/tsa": p.engine, "/tsa-past": p.past, "/tsa-later": p.later} {
		h, err := tsa.New(e, tsa.Config{Policies: []x509.OID{testPolicy}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		mux.Handle("POST "+path, h)
	}
	mux.HandleFunc("GET /crl/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/crl/"), ".crl")
		issuer, shard, _ := strings.Cut(name, "/")
		n, _ := strconv.Atoi(shard)
		c, err := p.engine.BuildCRL(r.Context(), issuer, n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(c.Bytes())
	})
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// signer issues a certificate from a profile with the engine and returns
// a signer time-stamped by the TSA at tsaPath.
func (p *pki) signer(t testing.TB, e *ca.Engine, prof, cn string, tsaPath string) *sign.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p.signerWithKey(t, e, prof, cn, tsaPath, k)
}

// signerWithKey is signer with a given key.
func (p *pki) signerWithKey(t testing.TB, e *ca.Engine, prof, cn string, tsaPath string, k crypto.Signer) *sign.Signer {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	if prof != "clara-signing" {
		tmpl.DNSNames = []string{cn}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		t.Fatal(err)
	}
	is, err := e.Issue(context.Background(), ca.IssueRequest{Profile: prof, CSR: csr, Requester: ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(k, []*x509.Certificate{is.Certificate}, is.Chain, p.url+tsaPath)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
