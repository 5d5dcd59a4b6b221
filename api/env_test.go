package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/api/apitest"
	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/fleet"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
	"github.com/vcc/vccpki/tsa"
)

// The package's tests share one API: the real engine with its keys on a
// real SQLite file, the profiles of configs/profiles, a service registry
// whose endpoints refuse connections, and the test authenticator below.
var (
	testStore  *sqlite.Store
	testEngine *ca.Engine
	testFleet  *fleet.FrontEnd
	testClock  = &clock{}
	testSrv    *httptest.Server
	testAPI    *Server
	testDoc    *openapi3.T
	testPolicy ca.TimestampPolicy
)

// clock is the API's clock: real time plus an offset tests move forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// headerAuth is the test authenticator: X-Test-Principal: NAME[@ORG][:ROLE,ROLE]
// is a principal of organisation ORG (default the operator) with those roles (X-Test-Name: another display name); "!bad" is a refused credential; no
// header is no credential. The real authenticators (OIDC, the Admin CA)
// are tested in conformance/ against Hydra and real certificates.
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (*auth.Principal, error) {
	v := r.Header.Get("X-Test-Principal")
	switch {
	case v == "":
		return nil, auth.ErrNoCredentials
	case v == "!bad":
		return nil, auth.Unauthorized("the token's signature does not verify")
	}
	name, roles, _ := strings.Cut(v, ":")
	name, org, _ := strings.Cut(name, "@") // NAME@ORG: a partner organisation's caller
	p := &auth.Principal{Method: auth.MethodOIDC, Issuer: "https://idp.test", Subject: "sub-" + name, Name: name, Org: org}
	if roles != "" {
		p.Roles = strings.Split(roles, ",")
	}
	if n := r.Header.Get("X-Test-Name"); n != "" {
		p.Name = n // the same subject under another display name
	}
	return p, nil
}

const testServices = `services:
  - name: argus
    protocol: acme
    endpoints:
      - {address: "127.0.0.1:1", sni: argus.vcc.internal}
  - name: clara
    protocol: est
    endpoints:
      - {address: "127.0.0.1:2", sni: clara.vcc.internal}
`

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "api tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vccpki-api")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vccpki.db"))
	if err != nil {
		return 0, err
	}
	defer st.Close()
	testStore = st
	kek, params, err := keys.NewKEK([]byte("api test passphrase"), keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		return 0, err
	}
	ks := keys.NewSoftware(kek, st)
	cfg := ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: ca.DefaultHierarchy()}
	cfg.Hierarchy.Locality = "Vienna" // code-signing certificates need one (CS BR 7.1.4.2.2)
	if _, err := ca.Bootstrap(ctx, st, ks, cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
		return 0, err
	}
	profiles, err := profile.Load(filepath.Join("..", "configs", "profiles"), ca.IssuingCAs)
	if err != nil {
		return 0, err
	}
	if testEngine, err = ca.Open(ctx, st, ks, profiles, cfg, ca.Options{}); err != nil {
		return 0, err
	}
	// The ACME secret box, as vccpki serve makes it: EAB keys are sealed in it.
	if _, err := acme.OpenSecretBox(ctx, st, testEngine.SecretSealer()); err != nil {
		return 0, err
	}
	reg, err := fleet.ParseRegistry("services.yaml", []byte(testServices), profiles)
	if err != nil {
		return 0, err
	}
	d := &fleet.Discoverer{Registry: reg, CA: testEngine, Timeout: 2 * time.Second, Concurrency: 2}
	if testFleet, err = fleet.NewFrontEnd(d, prometheusRegistry(), time.Hour, "services.yaml"); err != nil {
		return 0, err
	}
	// Time-stamps for server-side signatures, in process.
	if err := testEngine.EnableTimestamps(ctx, st); err != nil {
		return 0, err
	}
	oid, err := x509.ParseOID(tsa.DefaultPolicyOID)
	if err != nil {
		return 0, err
	}
	if testPolicy, err = ca.NewTimestampPolicy(oid); err != nil {
		return 0, err
	}
	if testAPI, err = New(Config{Engine: testEngine, Store: st, Authenticator: headerAuth{}, Fleet: testFleet,
		RateBurst: 1 << 20, Now: testClock.Now, HTTPSAddr: "127.0.0.1:8443", TimestampPolicy: testPolicy}); err != nil {
		return 0, err
	}
	testSrv = httptest.NewServer(testAPI)
	defer testSrv.Close()
	if testDoc, err = apitest.LoadDocument(Document); err != nil {
		return 0, err
	}
	defer benchCleanup()
	return m.Run(), nil
}

// client calls an API server and checks EVERY response against the
// OpenAPI document: a documented status, headers and body for a route of
// the document; a problem document for any other path.
type client struct {
	t     *testing.T
	base  string
	check *apitest.Validator
}

func newClient(t *testing.T, srv *httptest.Server) *client {
	t.Helper()
	v, err := apitest.New(Document, srv.URL+Prefix)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: srv.URL, check: v}
}

// response is a response read whole.
type response struct {
	*http.Response
	body []byte
}

func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// problem decodes a problem document.
func (r *response) problem(t *testing.T) Problem {
	t.Helper()
	var p Problem
	r.decode(t, &p)
	return p
}

// do sends method path (under /api/v1) as who ("" for no credential)
// with body (a string, []byte or a value to encode as JSON; nil for none).
func (c *client) do(who, method, path string, body any) *response {
	c.t.Helper()
	return c.doHeader(who, method, path, body, nil)
}

func (c *client) doHeader(who, method, path string, body any, hdr http.Header) *response {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.base+Prefix+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("X-Test-Principal", who)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.validate(req, resp, got)
	return &response{resp, got}
}

// validate checks one response against the document.
func (c *client) validate(req *http.Request, resp *http.Response, body []byte) {
	c.t.Helper()
	for _, err := range c.check.Check(req, resp, body) {
		c.t.Errorf("%s %s: %d: %v\nbody: %.600s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

// newCSR returns a PEM CSR for names.
func newCSR(t testing.TB, names ...string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

var nameSeq struct {
	sync.Mutex
	n int
}

// uniq returns a fresh name suffix.
func uniq() string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	return fmt.Sprintf("%d-%d", time.Now().UnixNano()%1e6, nameSeq.n)
}

// issue issues a certificate of profile through the engine and returns
// its serial.
func issue(t testing.TB, profileName string) string {
	t.Helper()
	names := map[string]string{"argus": "h" + uniq() + ".argus.vcc.internal", "covina": "h" + uniq() + ".covina.vcc.internal",
		"scraper": "h" + uniq() + ".scraper.vcc.internal", "default": "h" + uniq() + ".example.internal"}
	name, ok := names[profileName]
	if !ok {
		t.Fatalf("no test name for profile %s", profileName)
	}
	iss, err := testEngine.Issue(context.Background(), ca.IssueRequest{Profile: profileName, CSR: []byte(newCSR(t, name)),
		Requester: ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	return iss.Serial
}

// Roles of the tests' callers.
const (
	admin   = "alice:pki_admin"
	admin2  = "bob:pki_admin"
	signer  = "carol:code_signer"
	verif   = "dave:verifier"
	auditor = "erin:auditor"
	noRole  = "frank"
)

func prometheusRegistry() prometheus.Registerer { return prometheus.NewRegistry() }
