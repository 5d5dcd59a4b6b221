package acme_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
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
	// The server still works for the accounts the hostile requests used.
	f.alice.post(f.alice.kid, nil).must(t, http.StatusOK)
}
