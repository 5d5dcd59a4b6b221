package acme_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/store"
)

func hasLink(h http.Header, url, rel string) bool {
	for _, l := range h.Values("Link") {
		if l == "<"+url+`>;rel="`+rel+`"` {
			return true
		}
	}
	return false
}

// TestHeaders checks the headers RFC 8555 puts on each resource: fresh
// nonces on HEAD and GET newNonce (§7.2), Location and Link index (§7.1),
// Link up on challenges (§7.5.1), no-store on nonces.
func TestHeaders(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	for _, m := range []struct {
		method string
		status int
	}{{http.MethodHead, 200}, {http.MethodGet, 204}} {
		req, _ := http.NewRequest(m.method, c.URL("newNonce"), nil)
		resp, err := e.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != m.status || resp.Header.Get("Replay-Nonce") == "" || resp.Header.Get("Cache-Control") != "no-store" || !hasLink(resp.Header, e.DirURL, "index") {
			t.Errorf("%s newNonce: %d %v", m.method, resp.StatusCode, resp.Header)
		}
	}
	r := c.Register(nil).Must(t, 201)
	if !strings.HasPrefix(r.Header.Get("Location"), e.HTTPS.URL+"/acme/acct/") || !hasLink(r.Header, e.DirURL, "index") {
		t.Errorf("newAccount headers: %v", r.Header)
	}
	o, r := c.NewOrder("headers.test")
	if r.Header.Get("Location") != o.URL || o.URL == "" {
		t.Errorf("newOrder Location %q", r.Header.Get("Location"))
	}
	var a struct {
		Challenges []struct{ Type, URL string }
	}
	c.Post(o.Authorizations[0], nil).Must(t, 200).JSON(t, &a)
	r = c.Post(a.Challenges[0].URL, nil).Must(t, 200)
	if !hasLink(r.Header, o.Authorizations[0], "up") {
		t.Errorf("challenge has no Link rel=up to %s: %v", o.Authorizations[0], r.Header.Values("Link"))
	}
}

// TestURLsFollowHost: with no external URL configured, every URL is built
// from the Host the client used.
func TestURLsFollowHost(t *testing.T) {
	e := testEnv
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.HTTPS.URL, "https://"))
	hc := e.Client()
	hc.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, "127.0.0.1:"+port)
	}
	hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: e.Roots, ServerName: "localhost"}
	dir := "https://localhost:" + port + "/acme/directory"
	c := acmetest.NewClient(t, dir, hc)
	if got := c.URL("newOrder"); got != "https://localhost:"+port+"/acme/new-order" {
		t.Fatalf("newOrder URL %q", got)
	}
	c.Register(nil).Must(t, 201)
	if !strings.HasPrefix(c.Kid, "https://localhost:"+port+"/acme/acct/") {
		t.Fatalf("account URL %q", c.Kid)
	}
	c.Post(c.Kid, nil).Must(t, 200)
}

// TestExternalURL: a configured external URL is the base of every URL,
// whatever Host the client used.
func TestExternalURL(t *testing.T) {
	e := testEnv
	cfg := e.Config()
	cfg.ExternalURL = "https://ca.vcc.example:8443/"
	srv, err := acme.New(t.Context(), cfg, e.Engine, e.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs, err := e.Serve(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	resp, err := e.Client().Get(hs.URL + "/acme/directory")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir map[string]any
	json.NewDecoder(resp.Body).Decode(&dir)
	if dir["newOrder"] != "https://ca.vcc.example:8443/acme/new-order" || !hasLink(resp.Header, "https://ca.vcc.example:8443/acme/directory", "index") {
		t.Fatalf("directory %v, Link %v", dir, resp.Header.Values("Link"))
	}
}

// TestAccountResource: onlyReturnExisting, contact update, orders list.
func TestAccountResource(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	r := c.Post(c.URL("newAccount"), map[string]any{"onlyReturnExisting": true})
	if r.Prob.Type != "urn:ietf:params:acme:error:accountDoesNotExist" {
		t.Fatalf("onlyReturnExisting before registering: %d %s", r.Status, r.Body)
	}
	c.Register(nil).Must(t, 201)
	kid := c.Kid
	c.Kid = ""
	r = c.Post(c.URL("newAccount"), map[string]any{"onlyReturnExisting": true}).Must(t, 200)
	if r.Header.Get("Location") != kid {
		t.Fatalf("onlyReturnExisting found %q, want %q", r.Header.Get("Location"), kid)
	}
	c.Kid = kid
	var acct struct {
		Contact []string
		Orders  string
	}
	c.Post(kid, map[string]any{"contact": []string{"mailto:new@vcc.example"}}).Must(t, 200).JSON(t, &acct)
	if len(acct.Contact) != 1 || acct.Contact[0] != "mailto:new@vcc.example" {
		t.Fatalf("contact update: %+v", acct)
	}
	for _, bad := range []struct {
		contact []string
		typ     string
	}{{[]string{"tel:+4930123"}, "unsupportedContact"}, {[]string{"mailto:not an address"}, "invalidContact"}} {
		if r := c.Post(kid, map[string]any{"contact": bad.contact}); r.Prob.Type != "urn:ietf:params:acme:error:"+bad.typ {
			t.Errorf("contact %v: %d %s", bad.contact, r.Status, r.Body)
		}
	}
	o1, _ := c.NewOrder("list1.test")
	o2, _ := c.NewOrder("list2.test")
	var list struct{ Orders []string }
	c.Post(acct.Orders, nil).Must(t, 200).JSON(t, &list)
	if len(list.Orders) != 2 || list.Orders[0] != o1.URL || list.Orders[1] != o2.URL {
		t.Fatalf("orders list %v, want [%s %s]", list.Orders, o1.URL, o2.URL)
	}
}

// TestStateMachine follows RFC 8555 §7.1.6: a failed challenge makes the
// challenge, the authorization and the order invalid; a deactivated
// authorization makes its order invalid; finalize of a valid order is
// refused.
func TestStateMachine(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil).Must(t, 201)
	type authzObj struct {
		Status     string
		Challenges []struct {
			Type, URL, Status string
			Error             *struct{ Type string }
		}
	}

	t.Run("failed validation", func(t *testing.T) {
		o, _ := c.NewOrder("nobody-listens.test")
		var a authzObj
		c.Post(o.Authorizations[0], nil).Must(t, 200).JSON(t, &a)
		var ch struct {
			Status string
			Error  *struct{ Type string }
		}
		for _, x := range a.Challenges {
			if x.Type == "http-01" {
				// Nothing answers on the validator's port: connection refused.
				r := c.Post(x.URL, map[string]any{}).Must(t, 200)
				r.JSON(t, &ch)
				for deadline := time.Now().Add(15 * time.Second); ch.Status == "processing" && time.Now().Before(deadline); {
					if r.Header.Get("Retry-After") == "" {
						t.Error("a processing challenge without Retry-After")
					}
					time.Sleep(200 * time.Millisecond)
					r = c.Post(x.URL, nil).Must(t, 200)
					r.JSON(t, &ch)
				}
			}
		}
		if ch.Status != "invalid" || ch.Error == nil || ch.Error.Type != "urn:ietf:params:acme:error:connection" {
			t.Fatalf("challenge %+v", ch)
		}
		c.Post(o.Authorizations[0], nil).Must(t, 200).JSON(t, &a)
		var ord struct{ Status string }
		c.Post(o.URL, nil).Must(t, 200).JSON(t, &ord)
		if a.Status != "invalid" || ord.Status != "invalid" {
			t.Fatalf("authorization %s, order %s; want both invalid", a.Status, ord.Status)
		}
	})

	t.Run("dns-01 with a wrong TXT record", func(t *testing.T) {
		o, _ := c.NewOrder("wrongtxt.test")
		var a authzObj
		c.Post(o.Authorizations[0], nil).Must(t, 200).JSON(t, &a)
		e.dns.AddDNSTXTRecord("_acme-challenge.wrongtxt.test.", "not-the-digest")
		defer e.dns.DeleteDNSTXTRecord("_acme-challenge.wrongtxt.test.")
		for _, x := range a.Challenges {
			if x.Type != "dns-01" {
				continue
			}
			var ch struct {
				Status string
				Error  *struct{ Type string }
			}
			c.Post(x.URL, map[string]any{}).Must(t, 200).JSON(t, &ch)
			if ch.Status != "invalid" || ch.Error == nil || ch.Error.Type != "urn:ietf:params:acme:error:incorrectResponse" {
				t.Fatalf("challenge %+v", ch)
			}
		}
	})

	t.Run("authorization deactivated", func(t *testing.T) {
		o, _ := c.NewOrder("deact.test")
		var a authzObj
		c.Post(o.Authorizations[0], map[string]string{"status": "deactivated"}).Must(t, 200).JSON(t, &a)
		var ord struct{ Status string }
		c.Post(o.URL, nil).Must(t, 200).JSON(t, &ord)
		if a.Status != "deactivated" || ord.Status != "invalid" {
			t.Fatalf("authorization %s, order %s", a.Status, ord.Status)
		}
	})

	t.Run("finalize twice", func(t *testing.T) {
		_, o, _ := c.Issue(e.HTTPPort, "twice.test")
		der, _ := acmetest.CSRFor(t, "twice.test")
		r := c.Post(o.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
		if r.Status != 403 || r.Prob.Type != "urn:ietf:params:acme:error:orderNotReady" {
			t.Fatalf("second finalize: %d %s", r.Status, r.Body)
		}
	})
}

// TestLiberalCSRs: clients differ in what they put in a CSR; the profile,
// not the CSR, decides the certificate's content.
func TestLiberalCSRs(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil).Must(t, 201)
	for _, tc := range []struct {
		name  string
		order string
		cn    string
	}{
		{"empty subject", "empty-subject.test", ""},
		{"IP address as common name", "127.0.0.1", "127.0.0.1"},
		{"DNS name as common name", "cn.test", "cn.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, r := c.NewOrder(tc.order)
			r.Must(t, 201)
			c.Authorize(o, e.HTTPPort)
			der := acmetest.CSRWithCN(t, tc.cn, tc.order)
			c.Post(o.Finalize, map[string]string{"csr": b64.EncodeToString(der)}).Must(t, 200)
		})
	}
}

// TestProfileSelection: the order's profile, else the EAB service, else
// the first template admitting every identifier; an account bound to a
// service orders only that service's names.
func TestProfileSelection(t *testing.T) {
	e := testEnv
	plain := acmetest.NewClient(t, e.DirURL, e.Client())
	plain.Register(nil).Must(t, 201)
	bound := acmetest.NewClient(t, e.DirURL, e.Client())
	kid, hmac, err := acme.CreateEABKey(t.Context(), e.Store, "", "clara", "operator:test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bound.Register(bound.EAB(kid, hmac)).Must(t, 201)

	for _, tc := range []struct {
		name    string
		c       *acmetest.Client
		ids     []string
		profile string
		want    string // profile chosen, or a problem type
	}{
		{"first admitting template", plain, []string{"pick.test"}, "", "default"},
		{"service profile needs binding", plain, []string{"x.clara.test"}, "clara", "unauthorized"},
		{"unknown profile", plain, []string{"x.test"}, "nope", "invalidProfile"},
		{"no template admits", plain, []string{"x.example.org"}, "", "rejectedIdentifier"},
		{"bound account gets its service", bound, []string{"api.clara.test"}, "", "clara"},
		{"bound account, its profile named", bound, []string{"api.clara.test"}, "clara", "clara"},
		{"bound account, other service's names", bound, []string{"api.argus.test"}, "", "rejectedIdentifier"},
		{"bound account, other profile", bound, []string{"x.test"}, "default", "unauthorized"},
		{"wildcard outside allow_wildcard", plain, []string{"*.wild.test"}, "", "rejectedIdentifier"},
		{"bound account wildcard", bound, []string{"*.clara.test"}, "", "clara"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ids []map[string]string
			for _, n := range tc.ids {
				ids = append(ids, map[string]string{"type": "dns", "value": n})
			}
			p := map[string]any{"identifiers": ids}
			if tc.profile != "" {
				p["profile"] = tc.profile
			}
			r := tc.c.Post(tc.c.URL("newOrder"), p)
			got := strings.TrimPrefix(r.Prob.Type, "urn:ietf:params:acme:error:")
			if r.Status == 201 {
				var o struct{ Profile string }
				json.Unmarshal(r.Body, &o)
				got = o.Profile
			}
			if got != tc.want {
				t.Errorf("got %s (HTTP %d), want %s\n%s", got, r.Status, tc.want, r.Body)
			}
		})
	}
}

// TestRateLimits: a second instance with low limits answers rateLimited
// with Retry-After.
func TestRateLimits(t *testing.T) {
	e := testEnv
	cfg := e.Config()
	cfg.OrdersPerHour, cfg.MaxPendingAuthzs = 3, 4
	srv, err := acme.New(t.Context(), cfg, e.Engine, e.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs, err := e.Serve(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	for _, tc := range []struct {
		name   string
		orders [][]string
	}{
		{"pending authorizations", [][]string{{"p1.test", "p2.test", "p3.test"}, {"p4.test", "p5.test"}}},
		{"orders per hour", [][]string{{"o1.test"}, {"o2.test"}, {"o3.test"}, {"o4.test"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := acmetest.NewClient(t, hs.URL+"/acme/directory", e.Client())
			c.Register(nil).Must(t, 201)
			var last *acmetest.Response
			for _, names := range tc.orders {
				_, last = c.NewOrder(names...)
			}
			if last.Status != 429 || last.Prob.Type != "urn:ietf:params:acme:error:rateLimited" || last.Header.Get("Retry-After") == "" {
				t.Fatalf("last order: %d %v %s", last.Status, last.Header, last.Body)
			}
		})
	}
}

// TestSlowValidation: a validation that outlasts the challenge POST's
// wait is answered "processing" with Retry-After (RFC 8555 §7.5.1), and
// the client finds the result by polling.
func TestSlowValidation(t *testing.T) {
	e := testEnv
	cfg := e.Config()
	cfg.ChallengeWait = 50 * time.Millisecond
	srv, err := acme.New(t.Context(), cfg, e.Engine, e.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs, err := e.Serve(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	c := acmetest.NewClient(t, hs.URL+"/acme/directory", e.Client())
	c.Register(nil).Must(t, 201)
	o, _ := c.NewOrder("slow.test")
	var a struct {
		Challenges []struct{ Type, URL, Token string }
	}
	c.Post(o.Authorizations[0], nil).Must(t, 200).JSON(t, &a)
	var ch struct{ Type, URL, Token string }
	for _, x := range a.Challenges {
		if x.Type == "http-01" {
			ch = x
		}
	}
	keyAuth := ch.Token + "." + acmetest.Thumbprint(&c.Key.PublicKey)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second) // far beyond the 50 ms wait, even on a loaded machine
		w.Write([]byte(keyAuth))
	})}
	go slow.Serve(ln)
	defer slow.Close()

	var got struct{ Status string }
	r := c.Post(ch.URL, map[string]any{}).Must(t, 200)
	r.JSON(t, &got)
	if got.Status != "processing" || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("first answer %s, Retry-After %q; want processing, 1", got.Status, r.Header.Get("Retry-After"))
	}
	for deadline := time.Now().Add(10 * time.Second); got.Status == "processing" && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		c.Post(ch.URL, nil).Must(t, 200).JSON(t, &got)
	}
	if got.Status != "valid" {
		t.Fatalf("challenge ended %s", got.Status)
	}
}

// TestOrphanedValidation: a challenge left "processing" by an instance
// that went away is validated again once that mark is older than any
// validation can take; a fresh mark is left alone.
func TestOrphanedValidation(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil).Must(t, 201)
	for _, tc := range []struct {
		name    string
		started time.Time
		want    string
	}{
		{"fresh mark", time.Now(), "processing"},
		{"orphaned mark", time.Now().Add(-time.Hour), "valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "orphan-" + strings.Fields(tc.name)[0] + ".test"
			o, _ := c.NewOrder(name)
			azURL := o.Authorizations[0]
			id := azURL[strings.LastIndex(azURL, "/")+1:]
			// What a vanished instance leaves behind.
			az, err := e.Store.Authz(t.Context(), store.AuthzID(id))
			if err != nil {
				t.Fatal(err)
			}
			var data map[string]any
			json.Unmarshal(az.Data, &data)
			var token string
			for _, ch := range data["challenges"].([]any) {
				m := ch.(map[string]any)
				if m["type"] == "http-01" {
					m["status"], m["started"] = "processing", tc.started.UTC().Format(time.RFC3339Nano)
					token = m["token"].(string)
				}
			}
			var a struct {
				Challenges []struct{ Type, URL string }
			}
			c.Post(azURL, nil).Must(t, 200).JSON(t, &a)
			var chURL string
			for _, ch := range a.Challenges {
				if ch.Type == "http-01" {
					chURL = ch.URL
				}
			}
			az.Data, _ = json.Marshal(data)
			if err := e.Store.UpdateAuthz(t.Context(), az, "pending"); err != nil {
				t.Fatal(err)
			}
			keyAuth := token + "." + acmetest.Thumbprint(&c.Key.PublicKey)
			defer acmetest.ServeHTTP01(t, e.HTTPPort, token, keyAuth)()
			var got struct{ Status string }
			c.Post(chURL, map[string]any{}).Must(t, 200).JSON(t, &got)
			if got.Status != tc.want {
				t.Fatalf("challenge %s after POST, want %s", got.Status, tc.want)
			}
		})
	}
}

// TestAbandonedOrder: an order left processing by an instance that
// stopped during finalize turns invalid when read, instead of staying
// processing for ever.
func TestAbandonedOrder(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil).Must(t, 201)
	o, _ := c.NewOrder("abandoned.test")
	id := o.URL[strings.LastIndex(o.URL, "/")+1:]
	stored, err := e.Store.Order(t.Context(), store.OrderID(id))
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	json.Unmarshal(stored.Data, &data)
	data["finalizing"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	stored.Data, _ = json.Marshal(data)
	stored.Status = "processing"
	if err := e.Store.UpdateOrder(t.Context(), stored, "pending"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status string
		Error  *struct{ Type string }
	}
	c.Post(o.URL, nil).Must(t, 200).JSON(t, &got)
	if got.Status != "invalid" || got.Error == nil || got.Error.Type != "urn:ietf:params:acme:error:serverInternal" {
		t.Fatalf("abandoned order: %+v", got)
	}
}

// TestFinalizeRefusedByCA (13.6): a CSR that passes the front end's checks
// but that the CA refuses before signing (here: it asks to be a CA) is
// answered badCSR and leaves the order ready for a corrected CSR; only a
// failure after signing began may make the order invalid.
func TestFinalizeRefusedByCA(t *testing.T) {
	e := testEnv
	c := acmetest.NewClient(t, e.DirURL, e.Client())
	c.Register(nil).Must(t, 201)
	o, r := c.NewOrder("refused-csr.test")
	r.Must(t, 201)
	c.Authorize(o, e.HTTPPort)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := asn1.Marshal(struct{ IsCA bool }{true})
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		DNSNames:        []string{"refused-csr.test"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	r = c.Post(o.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
	if r.Status != 400 || r.Prob.Type != "urn:ietf:params:acme:error:badCSR" {
		t.Fatalf("finalize with a CA CSR: HTTP %d %s", r.Status, r.Body)
	}
	var got acmetest.Order
	if c.Post(o.URL, nil).Must(t, 200).JSON(t, &got); got.Status != "ready" {
		t.Fatalf("after a refused CSR the order is %s, want ready", got.Status)
	}
	good, _ := acmetest.CSRFor(t, "refused-csr.test")
	if c.Post(o.Finalize, map[string]string{"csr": b64.EncodeToString(good)}).Must(t, 200).JSON(t, &got); got.Status != "valid" {
		t.Fatalf("finalize with a corrected CSR: %s", got.Status)
	}
}
