// Package cluster runs several `vccpki serve` processes on one PostgreSQL
// database behind a client-side load balancer, for the scale-out and
// failover tests here and BenchmarkScaleOut in conformance/bench/scaleout.
package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"
	"github.com/vcc/vccpki/conformance/harness"
)

// Cluster is several `vccpki serve` processes on one PostgreSQL database,
// with a fake DNS and an http-01 responder for their validators.
type Cluster struct {
	cfg, DBURL string
	Nodes      []*harness.Server
	roots      *x509.CertPool
	http01     *http01Responder
}

type http01Responder struct{ keyAuths sync.Map }

func (h *http01Responder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v, ok := h.keyAuths.Load(strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")); ok {
		io.WriteString(w, v.(string))
		return
	}
	http.NotFound(w, r)
}

func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	pg := harness.Postgres(t)
	return StartWithURL(t, &Cluster{DBURL: pg.Database(t), http01: &http01Responder{}}, n)
}

// StartWithURL starts n instances on c.DBURL, or one on SQLite if
// c.DBURL is empty.
func StartWithURL(t testing.TB, c *Cluster, n int) *Cluster {
	t.Helper()
	if c.http01 == nil {
		c.http01 = &http01Responder{}
	}
	_, dnsAddr := harness.FakeDNS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: c.http01, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	httpPort := ln.Addr().(*net.TCPAddr).Port

	storeLine := ""
	if c.DBURL != "" { // else SQLite in the first instance's data directory
		storeLine = "store: " + c.DBURL + "\n"
	}
	c.cfg, _ = harness.Config(t, storeLine+
		"acme:\n  orders_per_hour: 1000000\n  max_pending_authzs: 1000000\n"+
		"ocsp:\n  poll_interval: 100ms\nlog:\n  level: warn\n")
	// The first instance creates the hierarchy; the others find it.
	for i := range n {
		data := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i))
		node := harness.StartServer(t, c.cfg, "--data", data, "--va-dns", dnsAddr, "--va-http-port", strconv.Itoa(httpPort))
		c.Nodes = append(c.Nodes, node)
		rootPEM, err := os.ReadFile(filepath.Join(data, "root.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			c.roots = x509.NewCertPool()
			c.roots.AppendCertsFromPEM(rootPEM)
		}
	}
	return c
}

// balancer is the load balancer in front of the instances, as a client
// transport: it sends each request to the next live instance in turn
// (keeping the Host header, as a proxy does), skips instances that refuse
// connections, and records which instance issued each nonce and which
// spent it.
type balancer struct {
	targets []string // host:port of each instance's HTTPS listener
	dead    []atomic.Bool
	next    atomic.Int64
	base    http.RoundTripper

	mu         sync.Mutex
	issuedBy   map[string]int
	served     []int
	crossNonce int    // nonces spent at another instance than the one that issued them
	lastPOST   []byte // the last JWS body sent, for the replay check
	lastURL    string
}

func newBalancer(c *Cluster) *balancer {
	b := &balancer{base: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.roots}, MaxIdleConnsPerHost: 16},
		issuedBy: map[string]int{}, served: make([]int, len(c.Nodes)), dead: make([]atomic.Bool, len(c.Nodes))}
	for _, n := range c.Nodes {
		u, _ := url.Parse(n.HTTPSURL)
		b.targets = append(b.targets, u.Host)
	}
	return b
}

func jwsNonce(body []byte) string {
	var env struct{ Protected string }
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(env.Protected)
	if err != nil {
		return ""
	}
	var h struct{ Nonce string }
	_ = json.Unmarshal(raw, &h)
	return h.Nonce
}

func (b *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	var lastErr error
	for range 2 * len(b.targets) {
		i := int(b.next.Add(1)) % len(b.targets)
		if b.dead[i].Load() {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Host = r.URL.Host
		r2.URL.Host = b.targets[i]
		if body != nil {
			r2.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := b.base.RoundTrip(r2)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				// Refused: the instance is down. Nothing reached it, so
				// another may take the request, as a balancer's health
				// check would route.
				b.dead[i].Store(true)
				lastErr = err
				continue
			}
			return nil, err
		}
		b.mu.Lock()
		b.served[i]++
		if r.Method == http.MethodPost {
			if from, ok := b.issuedBy[jwsNonce(body)]; ok && from != i {
				b.crossNonce++
			}
			b.lastPOST, b.lastURL = body, r.URL.Path
		}
		if n := resp.Header.Get("Replay-Nonce"); n != "" {
			b.issuedBy[n] = i
		}
		b.mu.Unlock()
		return resp, nil
	}
	return nil, fmt.Errorf("no instance reachable: %w", lastErr)
}

// acmeClient is one ACME account behind the balancer.
func (c *Cluster) ACMEClient(t testing.TB, b *balancer) *api.Core {
	t.Helper()
	hc := &http.Client{Timeout: 60 * time.Second, Transport: b}
	dir := c.Nodes[0].HTTPSURL + "/acme/directory"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	core, err := api.New(hc, "vccpki-cluster-test", dir, "", key)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := core.Accounts.New(legoacme.Account{TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	core, err = api.New(hc, "vccpki-cluster-test", dir, acct.Location, key)
	if err != nil {
		t.Fatal(err)
	}
	return core
}

// issueACME runs one order for name to its certificate, step by step, and
// returns the leaf and its issuer.
func (c *Cluster) IssueACME(core *api.Core, name string) (*x509.Certificate, *x509.Certificate, error) {
	order, err := core.Orders.New([]string{name})
	if err != nil {
		return nil, nil, fmt.Errorf("new order: %w", err)
	}
	for _, az := range order.Authorizations {
		a, err := core.Authorizations.Get(az)
		if err != nil {
			return nil, nil, fmt.Errorf("authz: %w", err)
		}
		var ch *legoacme.Challenge
		for i := range a.Challenges {
			if a.Challenges[i].Type == "http-01" {
				ch = &a.Challenges[i]
			}
		}
		if ch == nil {
			return nil, nil, errors.New("no http-01 challenge")
		}
		ka, err := core.GetKeyAuthorization(ch.Token)
		if err != nil {
			return nil, nil, err
		}
		c.http01.keyAuths.Store(ch.Token, ka)
		if _, err := core.Challenges.New(ch.URL); err != nil {
			return nil, nil, fmt.Errorf("challenge: %w", err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			a, err := core.Authorizations.Get(az)
			if err != nil {
				return nil, nil, fmt.Errorf("authz poll: %w", err)
			}
			if a.Status == legoacme.StatusValid {
				break
			}
			if a.Status == legoacme.StatusInvalid || time.Now().After(deadline) {
				return nil, nil, fmt.Errorf("authorization %s: %+v", a.Status, a.Challenges)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		return nil, nil, err
	}
	o, err := core.Orders.UpdateForCSR(order.Finalize, csr)
	if err != nil {
		return nil, nil, fmt.Errorf("finalize: %w", err)
	}
	for deadline := time.Now().Add(30 * time.Second); o.Status != legoacme.StatusValid; {
		if o.Status == legoacme.StatusInvalid || time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("order %s: %v", o.Status, o.Error)
		}
		time.Sleep(20 * time.Millisecond)
		if o, err = core.Orders.Get(order.Location); err != nil {
			return nil, nil, fmt.Errorf("order poll: %w", err)
		}
	}
	leafPEM, issuerPEM, err := core.Certificates.Get(o.Certificate, true)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	leaf, err := parsePEMCert(leafPEM)
	if err != nil {
		return nil, nil, err
	}
	issuer, err := parsePEMCert(issuerPEM)
	return leaf, issuer, err
}

func parsePEMCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no certificate in PEM")
	}
	return x509.ParseCertificate(block.Bytes)
}

// kill ends an instance with SIGKILL, as a crash would.
func kill(t testing.TB, s *harness.Server) {
	t.Helper()
	if err := s.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
}

// Pinned is a balancer with one target: a client talking to one instance.
func Pinned(c *Cluster, i int) *balancer {
	b := newBalancer(c)
	b.targets, b.served, b.dead = b.targets[i:i+1], b.served[:1], b.dead[:1]
	return b
}
