package acme_test

import (
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
)

// startInstance starts a second ACME server on the test store with cfg.
func (e *env) startInstance(t *testing.T, cfg acme.Config) string {
	t.Helper()
	srv, err := acme.New(t.Context(), cfg, e.Engine, e.Store)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := e.Serve(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs.URL + "/acme/directory"
}

func wantRateLimited(t *testing.T, what string, r *acmetest.Response) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests || r.Prob.Type != "urn:ietf:params:acme:error:rateLimited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("%s: HTTP %d %q Retry-After %q, want 429 rateLimited with Retry-After\n%s", what, r.Status, r.Prob.Type, r.Header.Get("Retry-After"), r.Body)
	}
}

// TestPerAddressLimits (13.7): newAccount and newOrder are limited per
// client address, whatever account asks, so that making more accounts
// does not get around the per-account limits. A refused request stores
// nothing.
func TestPerAddressLimits(t *testing.T) {
	e := testEnv
	cfg := e.Config()
	cfg.AccountsPerAddress = acme.Limit{Burst: 2, Every: time.Hour}
	cfg.OrdersPerAddress = acme.Limit{Burst: 3, Every: time.Hour}
	dir := e.startInstance(t, cfg)
	c1, c2 := acmetest.NewClient(t, dir, e.Client()), acmetest.NewClient(t, dir, e.Client())
	c1.Register(nil).Must(t, 201)
	c2.Register(nil).Must(t, 201)

	t.Run("13.7 newAccount per address", func(t *testing.T) {
		before := e.snapshot(t)
		c3 := acmetest.NewClient(t, dir, e.Client())
		wantRateLimited(t, "third account from one address", c3.Register(nil))
		if after := e.snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("the store changed:\n before %v\n after  %v", before, after)
		}
		// Finding an existing account creates nothing and is not limited.
		kid := c1.Kid
		c1.Kid = ""
		c1.Register(nil).Must(t, 200)
		if c1.Kid != kid {
			t.Fatalf("found account %s, want %s", c1.Kid, kid)
		}
	})
	t.Run("13.7 newOrder per address across accounts", func(t *testing.T) {
		c1.NewOrder("limit1.test")
		c1.NewOrder("limit2.test")
		_, r := c2.NewOrder("limit3.test")
		r.Must(t, 201)
		before := e.snapshot(t)
		_, r = c2.NewOrder("limit4.test")
		wantRateLimited(t, "fourth order from one address", r)
		if after := e.snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("the store changed:\n before %v\n after  %v", before, after)
		}
	})
}

// TestValidationsPerAccount (13.7): one account runs at most
// MaxValidationsPerAccount validations at once; a challenge POST beyond
// it is rateLimited and leaves the challenge pending, to be retried.
func TestValidationsPerAccount(t *testing.T) {
	e := testEnv
	cfg := e.Config()
	cfg.MaxValidationsPerAccount = 1
	cfg.ChallengeWait = 50 * time.Millisecond
	dir := e.startInstance(t, cfg)
	c := acmetest.NewClient(t, dir, e.Client())
	c.Register(nil).Must(t, 201)
	o, _ := c.NewOrder("va1.test", "va2.test")
	var chURL [2]string
	for i, az := range o.Authorizations {
		var a struct {
			Challenges []struct{ Type, URL string }
		}
		c.Post(az, nil).Must(t, 200).JSON(t, &a)
		for _, ch := range a.Challenges {
			if ch.Type == "http-01" {
				chURL[i] = ch.URL
			}
		}
	}
	// The validator's http-01 port answers, slowly, only once released.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		http.NotFound(w, r)
	})}
	go slow.Serve(ln)
	defer slow.Close()
	defer once.Do(func() { close(release) })

	var got struct{ Status string }
	c.Post(chURL[0], map[string]any{}).Must(t, 200).JSON(t, &got)
	if got.Status != "processing" {
		t.Fatalf("first challenge %s, want processing (the validator waits)", got.Status)
	}
	before := e.snapshot(t)
	wantRateLimited(t, "a second validation of the same account", c.Post(chURL[1], map[string]any{}))
	if after := e.snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the store changed:\n before %v\n after  %v", before, after)
	}
	once.Do(func() { close(release) })
	for deadline := time.Now().Add(20 * time.Second); got.Status == "processing" && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		c.Post(chURL[0], nil).Must(t, 200).JSON(t, &got)
	}
	// With the first finished, the second may start.
	c.Post(chURL[1], map[string]any{}).Must(t, 200)
}

// manualClock is a clock a test moves.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func countRows(t *testing.T, dbPath string, tables ...string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]int{}
	for _, table := range tables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// TestPruneKeepsStoreBounded (13.7): under a sustained loop of abandoned
// orders, pruning (with a clock the test moves) brings orders,
// authorizations and spent nonces back to what must stay: the order that
// produced a certificate, whose certificate URL still works. Accounts and
// the audit log are kept.
func TestPruneKeepsStoreBounded(t *testing.T) {
	e := testEnv
	dir := t.TempDir()
	st, engine, err := acmetest.OpenEngine(t.Context(), dir, profilesDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := &manualClock{now: time.Now()}
	cfg := e.Config()
	cfg.Secrets, cfg.Now, cfg.PruneRetention = engine.SecretSealer(), clock.Now, time.Hour
	srv, err := acme.New(t.Context(), cfg, engine, st)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	dbPath := filepath.Join(dir, "vccpki.db")
	tables := []string{"acme_orders", "acme_authzs", "acme_nonces", "acme_certificates", "acme_accounts"}

	// Only shared nonces are stored (acme/nonce.go): a second instance's
	// nonce makes this one reply with a shared nonce, which is then spent.
	srv2, err := acme.New(t.Context(), cfg, engine, st)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	hs2 := httptest.NewServer(srv2.Handler())
	defer hs2.Close()
	other := acmetest.NewClient(t, hs2.URL+"/acme/directory", hs2.Client())
	spendShared := func(c *acmetest.Client) {
		t.Helper()
		lookup := func(nonce string) *acmetest.Response {
			body := c.JWS(c.Key, "", c.URL("newAccount"), map[string]any{"onlyReturnExisting": true}, func(h map[string]any) { h["nonce"] = nonce })
			return c.PostRaw(c.URL("newAccount"), body, "application/jose+json")
		}
		refused := lookup(other.Nonce())
		if refused.Prob.Type != "urn:ietf:params:acme:error:badNonce" {
			t.Fatalf("another instance's nonce: HTTP %d %s", refused.Status, refused.Body)
		}
		lookup(refused.Header.Get("Replay-Nonce")).Must(t, 200)
	}

	issuer := acmetest.NewClient(t, hs.URL+"/acme/directory", hs.Client())
	issuer.Register(nil).Must(t, 201)
	_, issued, _ := issuer.Issue(e.HTTPPort, "kept.test")
	const cycles, ordersPerCycle = 4, 5
	for cycle := range cycles {
		c := acmetest.NewClient(t, hs.URL+"/acme/directory", hs.Client())
		c.Register(nil).Must(t, 201)
		for i := range ordersPerCycle {
			_, r := c.NewOrder(fmt.Sprintf("abandoned-%d-%d.test", cycle, i), fmt.Sprintf("abandoned-%d-%d-b.test", cycle, i))
			r.Must(t, 201)
		}
		spendShared(c)
		grown := countRows(t, dbPath, tables...)
		if grown["acme_orders"] < ordersPerCycle || grown["acme_nonces"] == 0 {
			t.Fatalf("cycle %d before pruning: %v", cycle, grown)
		}
		// Past the orders' and authorizations' lifetime (24h), the
		// nonces' (1h), and the retention (1h).
		clock.advance(26 * time.Hour)
		stats, err := srv.Prune(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got := countRows(t, dbPath, tables...)
		want := map[string]int{"acme_orders": 1, "acme_authzs": 0, "acme_nonces": 0, "acme_certificates": 1, "acme_accounts": cycle + 2}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("cycle %d after pruning (%+v): rows %v, want %v", cycle, stats, got, want)
		}
	}
	// What the certificate URL and ARI need stays.
	issuer.Post(issued.Certificate, nil).Must(t, 200)
	var o acmetest.Order
	issuer.Post(issued.URL, nil).Must(t, 200).JSON(t, &o)
	if o.Status != "valid" || o.Certificate == "" {
		t.Fatalf("the issued order after pruning: %+v", o)
	}
}
