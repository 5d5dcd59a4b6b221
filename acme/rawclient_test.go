package acme_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/challenge/http01"
)

var b64 = base64.RawURLEncoding

// rawClient is a hand-rolled ACME client for tests that must send what no
// real client sends: every part of the JWS can be changed before it goes
// out. Its well-formed requests follow RFC 8555 exactly.
type rawClient struct {
	t    *testing.T
	http *http.Client
	dir  map[string]any
	key  *ecdsa.PrivateKey
	kid  string
	// sent records every request body, for the fuzz corpus.
	sent [][]byte
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
	prob   struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
}

func newRawClient(t *testing.T, dirURL string, hc *http.Client) *rawClient {
	t.Helper()
	c := &rawClient{t: t, http: hc}
	resp, err := hc.Get(dirURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&c.dir); err != nil {
		t.Fatal(err)
	}
	if c.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *rawClient) url(name string) string { return c.dir[name].(string) }

func (c *rawClient) nonce() string {
	c.t.Helper()
	resp, err := c.http.Head(c.url("newNonce"))
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	n := resp.Header.Get("Replay-Nonce")
	if n == "" {
		c.t.Fatal("newNonce gave no Replay-Nonce")
	}
	return n
}

func jwkOf(pub *ecdsa.PublicKey) map[string]string {
	b, _ := pub.Bytes() // uncompressed point
	return map[string]string{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(b[1:33]), "y": b64.EncodeToString(b[33:])}
}

func thumbprint(pub *ecdsa.PublicKey) string {
	j := jwkOf(pub)
	canon := `{"crv":"P-256","kty":"EC","x":"` + j["x"] + `","y":"` + j["y"] + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

func signES256(key *ecdsa.PrivateKey, msg []byte) []byte {
	sum := sha256.Sum256([]byte(msg))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// jws builds a flattened JWS. payload nil is POST-as-GET; mutate may
// change the protected header before signing.
func (c *rawClient) jws(key *ecdsa.PrivateKey, kid, url string, payload any, mutate func(h map[string]any)) []byte {
	h := map[string]any{"alg": "ES256", "nonce": c.nonce(), "url": url}
	if kid != "" {
		h["kid"] = kid
	} else {
		h["jwk"] = jwkOf(&key.PublicKey)
	}
	if mutate != nil {
		mutate(h)
	}
	return flattened(key, h, payload)
}

func flattened(key *ecdsa.PrivateKey, h map[string]any, payload any) []byte {
	hb, _ := json.Marshal(h)
	var pb []byte
	switch p := payload.(type) {
	case nil:
	case []byte:
		pb = p
	default:
		pb, _ = json.Marshal(p)
	}
	prot, pay := b64.EncodeToString(hb), b64.EncodeToString(pb)
	sig := signES256(key, []byte(prot+"."+pay))
	body, _ := json.Marshal(map[string]string{"protected": prot, "payload": pay, "signature": b64.EncodeToString(sig)})
	return body
}

func (c *rawClient) postRaw(url string, body []byte, ctype string) *rawResponse {
	c.t.Helper()
	c.sent = append(c.sent, body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := &rawResponse{status: resp.StatusCode, header: resp.Header}
	out.body, _ = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		_ = json.Unmarshal(out.body, &out.prob)
	}
	return out
}

// post sends a well-formed request signed by the account (kid) or, before
// registration, with the key itself (jwk).
func (c *rawClient) post(url string, payload any) *rawResponse {
	c.t.Helper()
	return c.postRaw(url, c.jws(c.key, c.kid, url, payload, nil), "application/jose+json")
}

// must fails unless the response status is one of ok.
func (r *rawResponse) must(t *testing.T, ok ...int) *rawResponse {
	t.Helper()
	for _, s := range ok {
		if r.status == s {
			return r
		}
	}
	t.Fatalf("HTTP %d %s: %s", r.status, r.prob.Type, r.body)
	return r
}

func (r *rawResponse) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
}

// register creates the account; eab, when set, is the externalAccountBinding.
func (c *rawClient) register(eab any) *rawResponse {
	c.t.Helper()
	p := map[string]any{"termsOfServiceAgreed": true, "contact": []string{"mailto:ops@vcc.example"}}
	if eab != nil {
		p["externalAccountBinding"] = eab
	}
	r := c.post(c.url("newAccount"), p)
	if r.status == http.StatusCreated || r.status == http.StatusOK {
		c.kid = r.header.Get("Location")
	}
	return r
}

// eab builds an external account binding (RFC 8555 §7.3.4) for c's key.
func (c *rawClient) eab(kid, hmacB64 string) map[string]string {
	c.t.Helper()
	key, err := b64.DecodeString(hmacB64)
	if err != nil {
		c.t.Fatal(err)
	}
	hb, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": kid, "url": c.url("newAccount")})
	pb, _ := json.Marshal(jwkOf(&c.key.PublicKey))
	prot, pay := b64.EncodeToString(hb), b64.EncodeToString(pb)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(prot + "." + pay))
	return map[string]string{"protected": prot, "payload": pay, "signature": b64.EncodeToString(m.Sum(nil))}
}

type orderObj struct {
	Status         string `json:"status"`
	Authorizations []string
	Finalize       string
	Certificate    string
	Identifiers    []map[string]string
	Profile        string
	url            string
}

func (c *rawClient) newOrder(names ...string) (*orderObj, *rawResponse) {
	c.t.Helper()
	var ids []map[string]string
	for _, n := range names {
		typ := "dns"
		if net.ParseIP(n) != nil {
			typ = "ip"
		}
		ids = append(ids, map[string]string{"type": typ, "value": n})
	}
	r := c.post(c.url("newOrder"), map[string]any{"identifiers": ids})
	o := &orderObj{}
	if r.status == http.StatusCreated {
		r.json(c.t, o)
		o.url = r.header.Get("Location")
	}
	return o, r
}

// authorize answers every authorization of o by http-01, served by lego's
// http-01 server on the validator's port.
func (c *rawClient) authorize(o *orderObj, httpPort int) {
	c.t.Helper()
	srv := http01.NewProviderServer("127.0.0.1", strconv.Itoa(httpPort))
	for _, az := range o.Authorizations {
		var a struct {
			Identifier map[string]string
			Challenges []struct{ Type, URL, Token, Status string }
		}
		c.post(az, nil).must(c.t, 200).json(c.t, &a)
		for _, ch := range a.Challenges {
			if ch.Type != "http-01" {
				continue
			}
			keyAuth := ch.Token + "." + thumbprint(&c.key.PublicKey)
			if err := srv.Present(a.Identifier["value"], ch.Token, keyAuth); err != nil {
				c.t.Fatal(err)
			}
			var got struct{ Status string }
			c.post(ch.URL, map[string]any{}).must(c.t, 200).json(c.t, &got)
			for deadline := time.Now().Add(10 * time.Second); (got.Status == "pending" || got.Status == "processing") && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				c.post(ch.URL, nil).must(c.t, 200).json(c.t, &got)
			}
			srv.CleanUp(a.Identifier["value"], ch.Token, keyAuth)
			if got.Status != "valid" {
				c.t.Fatalf("challenge %s is %s", ch.URL, got.Status)
			}
		}
	}
}

// csr makes a CSR for names with a new P-256 key.
func csrFor(t *testing.T, names ...string) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, crypto.Signer(key))
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// issue runs a whole order for names and returns the certificate PEM
// chain, the order and the certificate's key.
func (c *rawClient) issue(httpPort int, names ...string) ([]byte, *orderObj, *ecdsa.PrivateKey) {
	c.t.Helper()
	o, r := c.newOrder(names...)
	r.must(c.t, 201)
	c.authorize(o, httpPort)
	der, key := csrFor(c.t, names...)
	url := o.url
	c.post(o.Finalize, map[string]string{"csr": b64.EncodeToString(der)}).must(c.t, 200).json(c.t, o)
	// RFC 8555 §7.4: a server may finalize asynchronously (pebble does).
	for deadline := time.Now().Add(10 * time.Second); o.Status == "processing" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		c.post(url, nil).must(c.t, 200).json(c.t, o)
	}
	o.url = url
	if o.Status != "valid" || o.Certificate == "" {
		c.t.Fatalf("order after finalize: %+v", o)
	}
	cert := c.post(o.Certificate, nil).must(c.t, 200)
	return cert.body, o, key
}

// csrWithCN makes a CSR with the given commonName and one SAN.
func csrWithCN(t *testing.T, cn, san string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	if ip := net.ParseIP(san); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{san}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
