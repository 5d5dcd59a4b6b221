package acme_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/vcc/vccpki/acme"
)

// stateTables are the tables a bad request must leave untouched. The used
// nonces are left out on purpose: a request that got as far as spending
// its nonce has used it up (RFC 8555 §6.5), which is the point of a nonce.
var stateTables = []string{"acme_accounts", "acme_eab_keys", "acme_orders", "acme_authzs", "acme_certificates", "certificates", "audit_log"}

// snapshot hashes every row of the state tables, read straight from the
// SQLite file.
func (e *env) snapshot(t *testing.T) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "vccpki.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	for _, table := range stateTables {
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		h := sha256.New()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%v\n", vals)
			n++
		}
		rows.Close()
		out[table] = fmt.Sprintf("%d rows %s", n, hex.EncodeToString(h.Sum(nil))[:16])
	}
	return out
}

// badInputFixture is the state the hostile requests aim at.
type badInputFixture struct {
	alice, bob   *rawClient
	aliceCert    []byte // PEM chain
	aliceCertKey *ecdsa.PrivateKey
	aliceOrder   *orderObj // valid
	pending      *orderObj // alice's, not authorized
	ready        *orderObj // alice's, authorized
	revokedCert  []byte    // DER, revoked already
	usedEAB      [2]string // kid, hmac of a key already bound
	freshEAB     [2]string // kid, hmac of an unused key
	deactivated  *rawClient
	// unauthorized is alice's order that was ready until one of its
	// authorizations was deactivated (item 13.15b).
	unauthorized *orderObj
}

// target is an ACME server the table runs against: ours or pebble.
type target struct {
	dirURL   string
	client   *http.Client
	httpPort int                                 // where its validator checks http-01
	newEAB   func(t *testing.T) (string, string) // a fresh EAB key: kid, base64url HMAC
}

func (e *env) target() target {
	return target{dirURL: e.dirURL, client: e.client(), httpPort: e.httpPort, newEAB: func(t *testing.T) (string, string) {
		kid, hmac, err := acme.CreateEABKey(t.Context(), e.store, "argus", "operator:test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return kid, hmac
	}}
}

func newBadInputFixture(t *testing.T, tg target) *badInputFixture {
	f := &badInputFixture{}
	f.alice = newRawClient(t, tg.dirURL, tg.client)
	f.alice.register(nil).must(t, 201)
	f.bob = newRawClient(t, tg.dirURL, tg.client)
	f.bob.register(nil).must(t, 201)
	f.aliceCert, f.aliceOrder, f.aliceCertKey = f.alice.issue(tg.httpPort, "alice.test")
	f.pending, _ = f.alice.newOrder("pending.test")
	f.ready, _ = f.alice.newOrder("ready.test")
	f.alice.authorize(f.ready, tg.httpPort)
	revoked, _, _ := f.alice.issue(tg.httpPort, "revoked.test")
	f.revokedCert = leafOf(t, revoked).Raw
	f.alice.post(f.alice.url("revokeCert"), map[string]any{"certificate": b64.EncodeToString(f.revokedCert)}).must(t, 200)
	for i, dst := range []*[2]string{&f.usedEAB, &f.freshEAB} {
		kid, hmac := tg.newEAB(t)
		*dst = [2]string{kid, hmac}
		if i == 0 {
			c := newRawClient(t, tg.dirURL, tg.client)
			c.register(c.eab(kid, hmac)).must(t, 201)
		}
	}
	f.unauthorized, _ = f.alice.newOrder("deactivated.test")
	f.alice.authorize(f.unauthorized, tg.httpPort)
	f.alice.post(f.unauthorized.url, nil).must(t, 200)
	f.alice.post(f.unauthorized.Authorizations[0], map[string]string{"status": "deactivated"}).must(t, 200)
	f.deactivated = newRawClient(t, tg.dirURL, tg.client)
	f.deactivated.register(nil).must(t, 201)
	f.deactivated.post(f.deactivated.kid, map[string]string{"status": "deactivated"}).must(t, 200)
	return f
}

type badRequest struct {
	name   string
	send   func(t *testing.T, f *badInputFixture) *rawResponse
	typ    string // problem type without the urn:ietf:params:acme:error: prefix
	status int
}

// badRequests are the malformed and hostile requests of issue 3, with the
// problem type and status RFC 8555 gives each. The pebble comparison sends
// the same list.
func badRequests(tg target) []badRequest {
	jose := "application/jose+json"
	return []badRequest{
		{"not JSON", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.postRaw(f.alice.url("newOrder"), []byte("this is not json"), jose)
		}, "malformed", 400},
		{"JSON but not a JWS", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.postRaw(f.alice.url("newOrder"), []byte(`{"identifiers":[{"type":"dns","value":"x.test"}]}`), jose)
		}, "malformed", 400},
		{"JWS with two signatures", func(t *testing.T, f *badInputFixture) *rawResponse {
			var one map[string]string
			json.Unmarshal(f.alice.jws(f.alice.key, f.alice.kid, f.alice.url("newOrder"), map[string]any{}, nil), &one)
			sig := map[string]string{"protected": one["protected"], "signature": one["signature"]}
			body, _ := json.Marshal(map[string]any{"payload": one["payload"], "signatures": []any{sig, sig}})
			return f.alice.postRaw(f.alice.url("newOrder"), body, jose)
		}, "malformed", 400},
		{"alg none", func(t *testing.T, f *badInputFixture) *rawResponse {
			body := f.alice.jws(f.alice.key, f.alice.kid, f.alice.url("newOrder"), map[string]any{}, func(h map[string]any) { h["alg"] = "none" })
			var m map[string]string
			json.Unmarshal(body, &m)
			m["signature"] = ""
			body, _ = json.Marshal(m)
			return f.alice.postRaw(f.alice.url("newOrder"), body, jose)
		}, "badSignatureAlgorithm", 400},
		{"HS256", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.postRaw(f.alice.url("newOrder"), f.alice.jws(f.alice.key, f.alice.kid, f.alice.url("newOrder"), map[string]any{}, func(h map[string]any) { h["alg"] = "HS256" }), jose)
		}, "badSignatureAlgorithm", 400},
		{"unknown kid", func(t *testing.T, f *badInputFixture) *rawResponse {
			kid := f.alice.kid[:strings.LastIndex(f.alice.kid, "/")+1] + "no-such-account"
			return f.alice.postRaw(f.alice.url("newOrder"), f.alice.jws(f.alice.key, kid, f.alice.url("newOrder"), map[string]any{}, nil), jose)
		}, "accountDoesNotExist", 400},
		{"jwk and kid both", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.postRaw(f.alice.url("newOrder"), f.alice.jws(f.alice.key, f.alice.kid, f.alice.url("newOrder"), map[string]any{}, func(h map[string]any) { h["jwk"] = jwkOf(&f.alice.key.PublicKey) }), jose)
		}, "malformed", 400},
		{"reused nonce", func(t *testing.T, f *badInputFixture) *rawResponse {
			nonce := f.alice.nonce()
			fixed := func(h map[string]any) { h["nonce"] = nonce }
			f.alice.postRaw(f.alice.kid, f.alice.jws(f.alice.key, f.alice.kid, f.alice.kid, nil, fixed), jose).must(t, 200)
			return f.alice.postRaw(f.alice.kid, f.alice.jws(f.alice.key, f.alice.kid, f.alice.kid, nil, fixed), jose)
		}, "badNonce", 400},
		{"wrong url", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.postRaw(f.alice.url("newOrder"), f.alice.jws(f.alice.key, f.alice.kid, f.alice.url("newAccount"), map[string]any{}, nil), jose)
		}, "unauthorized", 403},
		{"body over the limit", func(t *testing.T, f *badInputFixture) *rawResponse {
			big := map[string]string{"csr": strings.Repeat("A", 200<<10)}
			return f.alice.postRaw(f.ready.Finalize, f.alice.jws(f.alice.key, f.alice.kid, f.ready.Finalize, big, nil), jose)
		}, "malformed", 413},
		{"CSR not matching the order", func(t *testing.T, f *badInputFixture) *rawResponse {
			der, _ := csrFor(t, "ready.test", "other.test")
			return f.alice.post(f.ready.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
		}, "badCSR", 400},
		{"identifier outside every profile", func(t *testing.T, f *badInputFixture) *rawResponse {
			_, r := f.alice.newOrder("www.example.com")
			return r
		}, "rejectedIdentifier", 400},
		{"order of another account", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.bob.post(f.aliceOrder.url, nil)
		}, "unauthorized", 403},
		{"authorization of another account", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.bob.post(f.pending.Authorizations[0], nil)
		}, "unauthorized", 403},
		{"certificate of another account", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.bob.post(f.aliceOrder.Certificate, nil)
		}, "unauthorized", 403},
		{"revoking another account's certificate", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.bob.post(f.bob.url("revokeCert"), map[string]any{"certificate": b64.EncodeToString(leafOf(t, f.aliceCert).Raw)})
		}, "unauthorized", 403},
		{"finalize before ready", func(t *testing.T, f *badInputFixture) *rawResponse {
			der, _ := csrFor(t, "pending.test")
			return f.alice.post(f.pending.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
		}, "orderNotReady", 403},
		{"wrong EAB MAC", func(t *testing.T, f *badInputFixture) *rawResponse {
			c := newRawClient(t, tg.dirURL, tg.client)
			return c.register(c.eab(f.freshEAB[0], b64.EncodeToString([]byte("not the key, not the key, no..."))))
		}, "unauthorized", 403},
		{"EAB key reused", func(t *testing.T, f *badInputFixture) *rawResponse {
			c := newRawClient(t, tg.dirURL, tg.client)
			return c.register(c.eab(f.usedEAB[0], f.usedEAB[1]))
		}, "unauthorized", 403},
		{"deactivated account", func(t *testing.T, f *badInputFixture) *rawResponse {
			_, r := f.deactivated.newOrder("late.test")
			return r
		}, "unauthorized", 403},
		{"revoked certificate revoked again", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.post(f.alice.url("revokeCert"), map[string]any{"certificate": b64.EncodeToString(f.revokedCert)})
		}, "alreadyRevoked", 400},
		{"wrong Content-Type", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.postRaw(f.alice.url("newOrder"), f.alice.jws(f.alice.key, f.alice.kid, f.alice.url("newOrder"), map[string]any{}, nil), "application/json")
		}, "malformed", 415},
		{"signature by another key", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.postRaw(f.alice.url("newOrder"), f.alice.jws(f.bob.key, f.alice.kid, f.alice.url("newOrder"), map[string]any{}, nil), jose)
		}, "malformed", 400},
		{"revocation signed by an unrelated key", func(t *testing.T, f *badInputFixture) *rawResponse {
			c := newRawClient(t, tg.dirURL, tg.client)
			return c.post(c.url("revokeCert"), map[string]any{"certificate": b64.EncodeToString(leafOf(t, f.aliceCert).Raw)})
		}, "unauthorized", 403},
		// Issue 13. The table checks the order did not change (the store
		// snapshot); TestFinalizeAfterBadCSR finalizes it afterwards.
		{"13.6 finalize with a CSR that is not base64url keeps the order ready", func(t *testing.T, f *badInputFixture) *rawResponse {
			der, _ := csrFor(t, "ready.test")
			return f.alice.post(f.ready.Finalize, map[string]string{"csr": base64.StdEncoding.EncodeToString(der) + "+/"})
		}, "malformed", 400},
		{"13.6 finalize with a bad CSR signature keeps the order ready", func(t *testing.T, f *badInputFixture) *rawResponse {
			der, _ := csrFor(t, "ready.test")
			der[len(der)-1] ^= 0xff // the last byte of the ECDSA signature
			return f.alice.post(f.ready.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
		}, "badCSR", 400},
		{"13.6 finalize with an RSA-512 key keeps the order ready", func(t *testing.T, f *badInputFixture) *rawResponse {
			der, err := os.ReadFile("testdata/rsa512-ready.test.csr") // openssl req -newkey rsa:512
			if err != nil {
				t.Fatal(err)
			}
			return f.alice.post(f.ready.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
		}, "badPublicKey", 400},
		{"13.8 nonce respelled with other trailing bits", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.spendTwice(t, func(n string) string {
				// The last base64url character carries 2 unused bits in ours.
				last := strings.IndexByte(b64Alphabet, n[len(n)-1])
				return n[:len(n)-1] + string(b64Alphabet[last^1])
			})
		}, "badNonce", 400},
		{"13.8 nonce respelled with CRLF inside", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.spendTwice(t, func(n string) string { return n[:10] + "\r\n" + n[10:] })
		}, "badNonce", 400},
		{"13.8 nonce respelled with padding", func(t *testing.T, f *badInputFixture) *rawResponse {
			return f.alice.spendTwice(t, func(n string) string { return n + "=" })
		}, "badNonce", 400},
		{"13.9 GET on an order URL", func(t *testing.T, f *badInputFixture) *rawResponse {
			return getAllowPOST(t, tg.client, f.pending.url)
		}, "malformed", 405},
		{"13.9 GET on an authorization URL", func(t *testing.T, f *badInputFixture) *rawResponse {
			return getAllowPOST(t, tg.client, f.pending.Authorizations[0])
		}, "malformed", 405},
		{"13.9 GET on a certificate URL", func(t *testing.T, f *badInputFixture) *rawResponse {
			return getAllowPOST(t, tg.client, f.aliceOrder.Certificate)
		}, "malformed", 405},
		{"13.9 GET on an account URL", func(t *testing.T, f *badInputFixture) *rawResponse {
			return getAllowPOST(t, tg.client, f.alice.kid)
		}, "malformed", 405},
		{"13.15b finalize after an authorization was deactivated", func(t *testing.T, f *badInputFixture) *rawResponse {
			var o orderObj
			f.alice.post(f.unauthorized.url, nil).must(t, 200).json(t, &o)
			if o.Status != "invalid" {
				t.Errorf("an order whose authorization was deactivated is %s, want invalid (RFC 8555 §7.1.6)", o.Status)
			}
			der, _ := csrFor(t, "deactivated.test")
			return f.alice.post(f.unauthorized.Finalize, map[string]string{"csr": b64.EncodeToString(der)})
		}, "orderNotReady", 403},
	}
}

// TestBadInput sends each malformed or hostile request and checks the
// problem type, the HTTP status, a fresh Replay-Nonce, and that the store's
// state is exactly as before.
func TestBadInput(t *testing.T) {
	e := testEnv
	f := newBadInputFixture(t, e.target())
	for _, tc := range badRequests(e.target()) {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(t)
			r := tc.send(t, f)
			if want := "urn:ietf:params:acme:error:" + tc.typ; r.prob.Type != want || r.status != tc.status {
				t.Errorf("got HTTP %d %q, want %d %q\n%s", r.status, r.prob.Type, tc.status, want, r.body)
			}
			if r.header.Get("Replay-Nonce") == "" {
				t.Error("no fresh Replay-Nonce on the error response")
			}
			if after := e.snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the store changed:\n before %v\n after  %v", before, after)
			}
		})
	}
	// The server still works for the accounts the hostile requests used,
	// and the order the bad CSRs were sent to is still ready: a good CSR
	// finalizes it (13.6).
	f.alice.post(f.alice.kid, nil).must(t, http.StatusOK)
	var o orderObj
	f.alice.post(f.ready.url, nil).must(t, http.StatusOK).json(t, &o)
	if o.Status != "ready" {
		t.Fatalf("after the bad CSRs the order is %s, want ready", o.Status)
	}
	der, _ := csrFor(t, "ready.test")
	f.alice.post(f.ready.Finalize, map[string]string{"csr": b64.EncodeToString(der)}).must(t, http.StatusOK).json(t, &o)
	if o.Status != "valid" {
		t.Fatalf("finalize with a good CSR after bad ones: %s", o.Status)
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// spendTwice spends a fresh nonce on a POST-as-GET of the account, then
// sends the same request with the nonce respelled by respell: the same
// bytes to a lenient decoder, so a server must refuse it (RFC 8555 §6.5).
func (c *rawClient) spendTwice(t *testing.T, respell func(string) string) *rawResponse {
	t.Helper()
	nonce := c.nonce()
	c.postRaw(c.kid, c.jws(c.key, c.kid, c.kid, nil, func(h map[string]any) { h["nonce"] = nonce }), "application/jose+json").must(t, 200)
	again := respell(nonce)
	return c.postRaw(c.kid, c.jws(c.key, c.kid, c.kid, nil, func(h map[string]any) { h["nonce"] = again }), "application/jose+json")
}

// getAllowPOST sends a plain GET to a POST-as-GET resource; RFC 8555 §6.3
// wants 405 with Allow: POST.
func getAllowPOST(t *testing.T, hc *http.Client, url string) *rawResponse {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := &rawResponse{status: resp.StatusCode, header: resp.Header}
	out.body, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(out.body, &out.prob)
	if resp.StatusCode == http.StatusMethodNotAllowed && !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("405 with Allow %q, want POST", resp.Header.Get("Allow"))
	}
	return out
}
