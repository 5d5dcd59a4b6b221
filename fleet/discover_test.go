package fleet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
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

var _ CA = (*ca.Engine)(nil)

// fixture is a real engine on a SQLite file with its OCSP responder served
// on loopback: the certificates it issues carry that responder's URL.
type fixture struct {
	engine *ca.Engine
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	profiles, err := profile.Load("../configs/profiles", ca.IssuingCAs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ca.Config{PublicURL: "http://" + ln.Addr().String(), Hierarchy: ca.DefaultHierarchy()}
	cfg.Hierarchy.Locality = "Berlin"
	kek, params, err := keys.NewKEK([]byte("fleet test passphrase"), keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Bootstrap(ctx, st, keys.NewSoftware(kek, st), cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		t.Fatal(err)
	}
	e, err := ca.Open(ctx, st, keys.NewSoftware(kek, st), profiles, cfg, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ocsp.New(e, ocsp.Config{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	r.Register(mux)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(rctx); close(done) }()
	srv := &http.Server{Handler: r.Handler(mux), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return &fixture{engine: e}
}

// issue issues a certificate for names from profile p with a fresh key.
func (f *fixture) issue(t testing.TB, p string, names ...string) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, k)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := f.engine.Issue(context.Background(), ca.IssueRequest{Profile: p, CSR: csr, Requester: ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Certificate{PrivateKey: k, Certificate: [][]byte{iss.Certificate.Raw}}
	for _, ch := range iss.Chain {
		c.Certificate = append(c.Certificate, ch.Raw)
	}
	return c
}

// serveTLS presents cert on a loopback port until the test ends.
func serveTLS(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// otherCA makes a leaf for name under a throwaway CA, presented with it;
// its AIA names ocspURL as responder when not empty.
func otherCA(t testing.TB, name, ocspURL string) tls.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Elsewhere CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(99), DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	if ocspURL != "" {
		leaf.OCSPServer = []string{ocspURL}
	}
	der, _ := x509.CreateCertificate(rand.Reader, leaf, caCert, k.Public(), caKey)
	return tls.Certificate{PrivateKey: k, Certificate: [][]byte{der, caDER}}
}

// countConnections listens on loopback and counts the connections made
// to it until the test ends.
func countConnections(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// TestDiscover classifies what real TLS endpoints present against a real
// engine. The status of our certificates is the engine's (what our
// responder answers); a foreign certificate's OCSP URL, here an internal
// listener, is never contacted (issue 13 item 4).
func TestDiscover(t *testing.T) {
	f := newFixture(t)
	good := f.issue(t, "argus", "argus.test")
	revoked := f.issue(t, "covina", "covina.test")
	leaf, _ := x509.ParseCertificate(revoked.Certificate[0])
	if err := f.engine.Revoke(context.Background(), leaf.SerialNumber, ca.KeyCompromise, ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}); err != nil {
		t.Fatal(err)
	}
	internal, contacted := countConnections(t)
	// Closed only once the other listeners exist, so that none of them
	// is given its port.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()

	svc := func(name, p, addr, sni string) Service {
		return Service{Name: name, Profile: p, Protocol: ProtocolACME, Client: ClientLego, Endpoints: []Endpoint{{Address: addr, SNI: sni}}}
	}
	reg := &Registry{Services: []Service{
		svc("argus", "argus", serveTLS(t, good), "argus.test"),
		svc("covina", "covina", serveTLS(t, revoked), "covina.test"),
		svc("clara", "clara", serveTLS(t, f.issue(t, "default", "clara.test")), "clara.test"),
		svc("veritas", "veritas", serveTLS(t, otherCA(t, "veritas.test", "http://"+internal+"/admin/ocsp")), "veritas.test"),
		svc("scraper", "scraper", closedAddr, "scraper.test"),
		svc("aat", "aat", serveTLS(t, f.issue(t, "aat", "aat.test")), "web.aat.test"),
	}}
	closed.Close()
	rep := (&Discoverer{Registry: reg, CA: f.engine, Timeout: 3 * time.Second, Concurrency: 3}).Run(context.Background())
	for _, tc := range []struct {
		name, service, origin, ocsp, action string
	}{
		{"13.4 ours, good", "argus", OriginOurs, "good", ""},
		{"13.4 ours, revoked", "covina", OriginOurs, "revoked", "renew now: revoked"},
		{"ours from another profile", "clara", OriginOurs, "good", "issued from profile default, the registry says clara"},
		{"13.4 foreign chain: its OCSP URL is not asked", "veritas", OriginOtherCA, OCSPForeign, "issued by another CA (CN=Elsewhere CA)"},
		{"unreachable", "scraper", OriginNone, OCSPNotChecked, "unreachable"},
		{"ours for other names", "aat", OriginOurs, "good", "does not cover web.aat.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *ServiceReport
			for i := range rep.Services {
				if rep.Services[i].Name == tc.service {
					got = &rep.Services[i]
				}
			}
			e := got.Endpoints[0]
			if e.Origin != tc.origin || e.OCSP != tc.ocsp || (tc.action == "") != (e.Action == "") || !strings.Contains(e.Action, tc.action) || got.Covered != (tc.action == "") {
				t.Errorf("got origin %q, OCSP %q, action %q, covered %v; want %q, %q, %q", e.Origin, e.OCSP, e.Action, got.Covered, tc.origin, tc.ocsp, tc.action)
			}
		})
	}
	if n := contacted.Load(); n != 0 {
		t.Errorf("13.4: the foreign certificate's OCSP URL got %d connections; want none", n)
	}
	if rep.NotCovered != 5 {
		t.Errorf("%d not covered; want 5", rep.NotCovered)
	}
	if argus := rep.Services[0].Endpoints[0]; argus.Profile != "argus" || argus.RenewAfter.IsZero() || argus.DaysLeft < 6.9 || argus.DaysLeft > 7.1 {
		t.Errorf("argus: %+v", argus)
	}
}

// BenchmarkDiscover is one discovery over a registry of 50 endpoints
// that present certificates of this CA, with a status lookup each: the
// cost of one refresh of the server's fleet metrics.
func BenchmarkDiscover(b *testing.B) {
	f := newFixture(b)
	var services []Service
	for i := range 50 {
		name := fmt.Sprintf("h%d.argus.test", i)
		services = append(services, Service{Name: fmt.Sprintf("s%d", i), Profile: "argus", Protocol: ProtocolACME, Client: ClientLego,
			Endpoints: []Endpoint{{Address: serveTLS(b, f.issue(b, "argus", name)), SNI: name}}})
	}
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("endpoints=50/concurrency=%d", workers), func(b *testing.B) {
			d := &Discoverer{Registry: &Registry{Services: services}, CA: f.engine, Timeout: 5 * time.Second, Concurrency: workers}
			for b.Loop() {
				if rep := d.Run(context.Background()); rep.NotCovered != 0 {
					b.Fatalf("%d not covered: %+v", rep.NotCovered, rep.Services[0])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/50, "µs/endpoint")
		})
	}
}
