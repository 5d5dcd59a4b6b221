package acmetest

import (
	"crypto/ecdsa"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// Fixture is the state the hostile requests aim at.
// rsa512CSR asks for ready.test with an RSA-512 key.
//
//go:embed testdata/rsa512-ready.test.csr
var rsa512CSR []byte

type Fixture struct {
	Alice, Bob   *Client
	AliceCert    []byte // PEM chain
	AliceCertKey *ecdsa.PrivateKey
	AliceOrder   *Order    // valid
	Pending      *Order    // alice's, not authorized
	Ready        *Order    // alice's, authorized
	RevokedCert  []byte    // DER, revoked already
	UsedEAB      [2]string // kid, hmac of a key already bound
	FreshEAB     [2]string // kid, hmac of an unused key
	Deactivated  *Client
	// unauthorized is alice's order that was ready until one of its
	// authorizations was deactivated (item 13.15b).
	Unauthorized *Order
}

// Target is an ACME server the table runs against: ours or pebble.
type Target struct {
	DirURL   string
	Client   *http.Client
	HTTPPort int                                 // where its validator checks http-01
	NewEAB   func(t *testing.T) (string, string) // a fresh EAB key: kid, base64url HMAC
}

func NewFixture(t *testing.T, tg Target) *Fixture {
	f := &Fixture{}
	f.Alice = NewClient(t, tg.DirURL, tg.Client)
	f.Alice.Register(nil).Must(t, 201)
	f.Bob = NewClient(t, tg.DirURL, tg.Client)
	f.Bob.Register(nil).Must(t, 201)
	f.AliceCert, f.AliceOrder, f.AliceCertKey = f.Alice.Issue(tg.HTTPPort, "alice.test")
	f.Pending, _ = f.Alice.NewOrder("pending.test")
	f.Ready, _ = f.Alice.NewOrder("ready.test")
	f.Alice.Authorize(f.Ready, tg.HTTPPort)
	revoked, _, _ := f.Alice.Issue(tg.HTTPPort, "revoked.test")
	f.RevokedCert = LeafOf(t, revoked).Raw
	f.Alice.Post(f.Alice.URL("revokeCert"), map[string]any{"certificate": B64.EncodeToString(f.RevokedCert)}).Must(t, 200)
	for i, dst := range []*[2]string{&f.UsedEAB, &f.FreshEAB} {
		kid, hmac := tg.NewEAB(t)
		*dst = [2]string{kid, hmac}
		if i == 0 {
			c := NewClient(t, tg.DirURL, tg.Client)
			c.Register(c.EAB(kid, hmac)).Must(t, 201)
		}
	}
	f.Unauthorized, _ = f.Alice.NewOrder("deactivated.test")
	f.Alice.Authorize(f.Unauthorized, tg.HTTPPort)
	f.Alice.Post(f.Unauthorized.URL, nil).Must(t, 200)
	f.Alice.Post(f.Unauthorized.Authorizations[0], map[string]string{"status": "deactivated"}).Must(t, 200)
	f.Deactivated = NewClient(t, tg.DirURL, tg.Client)
	f.Deactivated.Register(nil).Must(t, 201)
	f.Deactivated.Post(f.Deactivated.Kid, map[string]string{"status": "deactivated"}).Must(t, 200)
	return f
}

type BadRequest struct {
	Name   string
	Send   func(t *testing.T, f *Fixture) *Response
	Type   string // problem type without the urn:ietf:params:acme:error: prefix
	Status int
}

// BadRequests are the malformed and hostile requests of issue 3, with the
// problem type and status RFC 8555 gives each. The pebble comparison sends
// the same list.
func BadRequests(tg Target) []BadRequest {
	jose := "application/jose+json"
	return []BadRequest{
		{"not JSON", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), []byte("this is not json"), jose)
		}, "malformed", 400},
		{"JSON but not a JWS", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), []byte(`{"identifiers":[{"type":"dns","value":"x.test"}]}`), jose)
		}, "malformed", 400},
		{"JWS with two signatures", func(t *testing.T, f *Fixture) *Response {
			var one map[string]string
			json.Unmarshal(f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Alice.URL("newOrder"), map[string]any{}, nil), &one)
			sig := map[string]string{"protected": one["protected"], "signature": one["signature"]}
			body, _ := json.Marshal(map[string]any{"payload": one["payload"], "signatures": []any{sig, sig}})
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), body, jose)
		}, "malformed", 400},
		{"alg none", func(t *testing.T, f *Fixture) *Response {
			body := f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Alice.URL("newOrder"), map[string]any{}, func(h map[string]any) { h["alg"] = "none" })
			var m map[string]string
			json.Unmarshal(body, &m)
			m["signature"] = ""
			body, _ = json.Marshal(m)
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), body, jose)
		}, "badSignatureAlgorithm", 400},
		{"HS256", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Alice.URL("newOrder"), map[string]any{}, func(h map[string]any) { h["alg"] = "HS256" }), jose)
		}, "badSignatureAlgorithm", 400},
		{"unknown kid", func(t *testing.T, f *Fixture) *Response {
			kid := f.Alice.Kid[:strings.LastIndex(f.Alice.Kid, "/")+1] + "no-such-account"
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), f.Alice.JWS(f.Alice.Key, kid, f.Alice.URL("newOrder"), map[string]any{}, nil), jose)
		}, "accountDoesNotExist", 400},
		{"jwk and kid both", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Alice.URL("newOrder"), map[string]any{}, func(h map[string]any) { h["jwk"] = JWK(&f.Alice.Key.PublicKey) }), jose)
		}, "malformed", 400},
		{"reused nonce", func(t *testing.T, f *Fixture) *Response {
			nonce := f.Alice.Nonce()
			fixed := func(h map[string]any) { h["nonce"] = nonce }
			f.Alice.PostRaw(f.Alice.Kid, f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Alice.Kid, nil, fixed), jose).Must(t, 200)
			return f.Alice.PostRaw(f.Alice.Kid, f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Alice.Kid, nil, fixed), jose)
		}, "badNonce", 400},
		{"wrong url", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Alice.URL("newAccount"), map[string]any{}, nil), jose)
		}, "unauthorized", 403},
		{"body over the limit", func(t *testing.T, f *Fixture) *Response {
			big := map[string]string{"csr": strings.Repeat("A", 200<<10)}
			return f.Alice.PostRaw(f.Ready.Finalize, f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Ready.Finalize, big, nil), jose)
		}, "malformed", 413},
		{"CSR not matching the order", func(t *testing.T, f *Fixture) *Response {
			der, _ := CSRFor(t, "ready.test", "other.test")
			return f.Alice.Post(f.Ready.Finalize, map[string]string{"csr": B64.EncodeToString(der)})
		}, "badCSR", 400},
		{"identifier outside every profile", func(t *testing.T, f *Fixture) *Response {
			_, r := f.Alice.NewOrder("www.example.com")
			return r
		}, "rejectedIdentifier", 400},
		{"order of another account", func(t *testing.T, f *Fixture) *Response {
			return f.Bob.Post(f.AliceOrder.URL, nil)
		}, "unauthorized", 403},
		{"authorization of another account", func(t *testing.T, f *Fixture) *Response {
			return f.Bob.Post(f.Pending.Authorizations[0], nil)
		}, "unauthorized", 403},
		{"certificate of another account", func(t *testing.T, f *Fixture) *Response {
			return f.Bob.Post(f.AliceOrder.Certificate, nil)
		}, "unauthorized", 403},
		{"revoking another account's certificate", func(t *testing.T, f *Fixture) *Response {
			return f.Bob.Post(f.Bob.URL("revokeCert"), map[string]any{"certificate": B64.EncodeToString(LeafOf(t, f.AliceCert).Raw)})
		}, "unauthorized", 403},
		{"finalize before ready", func(t *testing.T, f *Fixture) *Response {
			der, _ := CSRFor(t, "pending.test")
			return f.Alice.Post(f.Pending.Finalize, map[string]string{"csr": B64.EncodeToString(der)})
		}, "orderNotReady", 403},
		{"wrong EAB MAC", func(t *testing.T, f *Fixture) *Response {
			c := NewClient(t, tg.DirURL, tg.Client)
			return c.Register(c.EAB(f.FreshEAB[0], B64.EncodeToString([]byte("not the key, not the key, no..."))))
		}, "unauthorized", 403},
		{"EAB key reused", func(t *testing.T, f *Fixture) *Response {
			c := NewClient(t, tg.DirURL, tg.Client)
			return c.Register(c.EAB(f.UsedEAB[0], f.UsedEAB[1]))
		}, "unauthorized", 403},
		{"deactivated account", func(t *testing.T, f *Fixture) *Response {
			_, r := f.Deactivated.NewOrder("late.test")
			return r
		}, "unauthorized", 403},
		{"revoked certificate revoked again", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.Post(f.Alice.URL("revokeCert"), map[string]any{"certificate": B64.EncodeToString(f.RevokedCert)})
		}, "alreadyRevoked", 400},
		{"wrong Content-Type", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), f.Alice.JWS(f.Alice.Key, f.Alice.Kid, f.Alice.URL("newOrder"), map[string]any{}, nil), "application/json")
		}, "malformed", 415},
		{"signature by another key", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.PostRaw(f.Alice.URL("newOrder"), f.Alice.JWS(f.Bob.Key, f.Alice.Kid, f.Alice.URL("newOrder"), map[string]any{}, nil), jose)
		}, "malformed", 400},
		{"revocation signed by an unrelated key", func(t *testing.T, f *Fixture) *Response {
			c := NewClient(t, tg.DirURL, tg.Client)
			return c.Post(c.URL("revokeCert"), map[string]any{"certificate": B64.EncodeToString(LeafOf(t, f.AliceCert).Raw)})
		}, "unauthorized", 403},
		// Issue 13. The table checks the order did not change (the store
		// snapshot); TestFinalizeAfterBadCSR finalizes it afterwards.
		{"13.6 finalize with a CSR that is not base64url keeps the order ready", func(t *testing.T, f *Fixture) *Response {
			der, _ := CSRFor(t, "ready.test")
			return f.Alice.Post(f.Ready.Finalize, map[string]string{"csr": base64.StdEncoding.EncodeToString(der) + "+/"})
		}, "malformed", 400},
		{"13.6 finalize with a bad CSR signature keeps the order ready", func(t *testing.T, f *Fixture) *Response {
			der, _ := CSRFor(t, "ready.test")
			der[len(der)-1] ^= 0xff // the last byte of the ECDSA signature
			return f.Alice.Post(f.Ready.Finalize, map[string]string{"csr": B64.EncodeToString(der)})
		}, "badCSR", 400},
		{"13.6 finalize with an RSA-512 key keeps the order ready", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.Post(f.Ready.Finalize, map[string]string{"csr": B64.EncodeToString(rsa512CSR)})
		}, "badPublicKey", 400},
		{"13.8 nonce respelled with other trailing bits", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.SpendTwice(t, func(n string) string {
				// The last base64url character carries 2 unused bits in ours.
				last := strings.IndexByte(B64Alphabet, n[len(n)-1])
				return n[:len(n)-1] + string(B64Alphabet[last^1])
			})
		}, "badNonce", 400},
		{"13.8 nonce respelled with CRLF inside", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.SpendTwice(t, func(n string) string { return n[:10] + "\r\n" + n[10:] })
		}, "badNonce", 400},
		{"13.8 nonce respelled with padding", func(t *testing.T, f *Fixture) *Response {
			return f.Alice.SpendTwice(t, func(n string) string { return n + "=" })
		}, "badNonce", 400},
		{"13.9 GET on an order URL", func(t *testing.T, f *Fixture) *Response {
			return GetAllowPOST(t, tg.Client, f.Pending.URL)
		}, "malformed", 405},
		{"13.9 GET on an authorization URL", func(t *testing.T, f *Fixture) *Response {
			return GetAllowPOST(t, tg.Client, f.Pending.Authorizations[0])
		}, "malformed", 405},
		{"13.9 GET on a certificate URL", func(t *testing.T, f *Fixture) *Response {
			return GetAllowPOST(t, tg.Client, f.AliceOrder.Certificate)
		}, "malformed", 405},
		{"13.9 GET on an account URL", func(t *testing.T, f *Fixture) *Response {
			return GetAllowPOST(t, tg.Client, f.Alice.Kid)
		}, "malformed", 405},
		{"13.15b finalize after an authorization was deactivated", func(t *testing.T, f *Fixture) *Response {
			var o Order
			f.Alice.Post(f.Unauthorized.URL, nil).Must(t, 200).JSON(t, &o)
			if o.Status != "invalid" {
				t.Errorf("an order whose authorization was deactivated is %s, want invalid (RFC 8555 §7.1.6)", o.Status)
			}
			der, _ := CSRFor(t, "deactivated.test")
			return f.Alice.Post(f.Unauthorized.Finalize, map[string]string{"csr": B64.EncodeToString(der)})
		}, "orderNotReady", 403},
	}
}

const B64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// SpendTwice spends a fresh nonce on a POST-as-GET of the account, then
// sends the same request with the nonce respelled by respell: the same
// bytes to a lenient decoder, so a server must refuse it (RFC 8555 §6.5).
func (c *Client) SpendTwice(t *testing.T, respell func(string) string) *Response {
	t.Helper()
	nonce := c.Nonce()
	c.PostRaw(c.Kid, c.JWS(c.Key, c.Kid, c.Kid, nil, func(h map[string]any) { h["nonce"] = nonce }), "application/jose+json").Must(t, 200)
	again := respell(nonce)
	return c.PostRaw(c.Kid, c.JWS(c.Key, c.Kid, c.Kid, nil, func(h map[string]any) { h["nonce"] = again }), "application/jose+json")
}

// GetAllowPOST sends a plain GET to a POST-as-GET resource; RFC 8555 §6.3
// wants 405 with Allow: POST.
func GetAllowPOST(t *testing.T, hc *http.Client, url string) *Response {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := &Response{Status: resp.StatusCode, Header: resp.Header}
	out.Body, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(out.Body, &out.Prob)
	if resp.StatusCode == http.StatusMethodNotAllowed && !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("405 with Allow %q, want POST", resp.Header.Get("Allow"))
	}
	return out
}
