// Package acmetest is a hand-rolled ACME client and the table of malformed
// and hostile requests, shared by the in-process tests of acme and the
// pebble comparison in conformance/acme. Tests only: nothing in the server
// imports it.
package acmetest

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
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var B64 = base64.RawURLEncoding

// Client is a hand-rolled ACME client for tests that must send what no
// real client sends: every part of the JWS can be changed before it goes
// out. Its well-formed requests follow RFC 8555 exactly.
type Client struct {
	T    *testing.T
	HTTP *http.Client
	Dir  map[string]any
	Key  *ecdsa.PrivateKey
	Kid  string
	// sent records every request body, for the fuzz corpus.
	Sent [][]byte
}

type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Prob   struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
}

func NewClient(t *testing.T, dirURL string, hc *http.Client) *Client {
	t.Helper()
	c := &Client{T: t, HTTP: hc}
	resp, err := hc.Get(dirURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&c.Dir); err != nil {
		t.Fatal(err)
	}
	if c.Key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *Client) URL(name string) string { return c.Dir[name].(string) }

func (c *Client) Nonce() string {
	c.T.Helper()
	resp, err := c.HTTP.Head(c.URL("newNonce"))
	if err != nil {
		c.T.Fatal(err)
	}
	resp.Body.Close()
	n := resp.Header.Get("Replay-Nonce")
	if n == "" {
		c.T.Fatal("newNonce gave no Replay-Nonce")
	}
	return n
}

func JWK(pub *ecdsa.PublicKey) map[string]string {
	b, _ := pub.Bytes() // uncompressed point
	return map[string]string{"kty": "EC", "crv": "P-256", "x": B64.EncodeToString(b[1:33]), "y": B64.EncodeToString(b[33:])}
}

func Thumbprint(pub *ecdsa.PublicKey) string {
	j := JWK(pub)
	canon := `{"crv":"P-256","kty":"EC","x":"` + j["x"] + `","y":"` + j["y"] + `"}`
	sum := sha256.Sum256([]byte(canon))
	return B64.EncodeToString(sum[:])
}

func SignES256(key *ecdsa.PrivateKey, msg []byte) []byte {
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

// jws builds a Flattened JWS. payload nil is POST-as-GET; mutate may
// change the protected header before signing.
func (c *Client) JWS(key *ecdsa.PrivateKey, kid, url string, payload any, mutate func(h map[string]any)) []byte {
	h := map[string]any{"alg": "ES256", "nonce": c.Nonce(), "url": url}
	if kid != "" {
		h["kid"] = kid
	} else {
		h["jwk"] = JWK(&key.PublicKey)
	}
	if mutate != nil {
		mutate(h)
	}
	return Flattened(key, h, payload)
}

func Flattened(key *ecdsa.PrivateKey, h map[string]any, payload any) []byte {
	hb, _ := json.Marshal(h)
	var pb []byte
	switch p := payload.(type) {
	case nil:
	case []byte:
		pb = p
	default:
		pb, _ = json.Marshal(p)
	}
	prot, pay := B64.EncodeToString(hb), B64.EncodeToString(pb)
	sig := SignES256(key, []byte(prot+"."+pay))
	body, _ := json.Marshal(map[string]string{"protected": prot, "payload": pay, "signature": B64.EncodeToString(sig)})
	return body
}

func (c *Client) PostRaw(url string, body []byte, ctype string) *Response {
	c.T.Helper()
	c.Sent = append(c.Sent, body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		c.T.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	defer resp.Body.Close()
	out := &Response{Status: resp.StatusCode, Header: resp.Header}
	out.Body, _ = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		_ = json.Unmarshal(out.Body, &out.Prob)
	}
	return out
}

// post sends a well-formed request signed by the account (kid) or, before
// registration, with the key itself (jwk).
func (c *Client) Post(url string, payload any) *Response {
	c.T.Helper()
	return c.PostRaw(url, c.JWS(c.Key, c.Kid, url, payload, nil), "application/jose+json")
}

// must fails unless the response status is one of ok.
func (r *Response) Must(t *testing.T, ok ...int) *Response {
	t.Helper()
	for _, s := range ok {
		if r.Status == s {
			return r
		}
	}
	t.Fatalf("HTTP %d %s: %s", r.Status, r.Prob.Type, r.Body)
	return r
}

func (r *Response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
}

// register creates the account; eab, when set, is the externalAccountBinding.
func (c *Client) Register(eab any) *Response {
	c.T.Helper()
	p := map[string]any{"termsOfServiceAgreed": true, "contact": []string{"mailto:ops@vcc.example"}}
	if eab != nil {
		p["externalAccountBinding"] = eab
	}
	r := c.Post(c.URL("newAccount"), p)
	if r.Status == http.StatusCreated || r.Status == http.StatusOK {
		c.Kid = r.Header.Get("Location")
	}
	return r
}

// eab builds an external account binding (RFC 8555 §7.3.4) for c's key.
func (c *Client) EAB(kid, hmacB64 string) map[string]string {
	c.T.Helper()
	key, err := B64.DecodeString(hmacB64)
	if err != nil {
		c.T.Fatal(err)
	}
	hb, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": kid, "url": c.URL("newAccount")})
	pb, _ := json.Marshal(JWK(&c.Key.PublicKey))
	prot, pay := B64.EncodeToString(hb), B64.EncodeToString(pb)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(prot + "." + pay))
	return map[string]string{"protected": prot, "payload": pay, "signature": B64.EncodeToString(m.Sum(nil))}
}

type Order struct {
	Status         string `json:"status"`
	Authorizations []string
	Finalize       string
	Certificate    string
	Identifiers    []map[string]string
	Profile        string
	URL            string `json:"-"`
}

func (c *Client) NewOrder(names ...string) (*Order, *Response) {
	c.T.Helper()
	var ids []map[string]string
	for _, n := range names {
		typ := "dns"
		if net.ParseIP(n) != nil {
			typ = "ip"
		}
		ids = append(ids, map[string]string{"type": typ, "value": n})
	}
	r := c.Post(c.URL("newOrder"), map[string]any{"identifiers": ids})
	o := &Order{}
	if r.Status == http.StatusCreated {
		r.JSON(c.T, o)
		o.URL = r.Header.Get("Location")
	}
	return o, r
}

// Authorize answers every authorization of o by http-01, served on the
// validator's port.
func (c *Client) Authorize(o *Order, httpPort int) {
	c.T.Helper()
	for _, az := range o.Authorizations {
		var a struct {
			Identifier map[string]string
			Challenges []struct{ Type, URL, Token, Status string }
		}
		c.Post(az, nil).Must(c.T, 200).JSON(c.T, &a)
		for _, ch := range a.Challenges {
			if ch.Type != "http-01" {
				continue
			}
			keyAuth := ch.Token + "." + Thumbprint(&c.Key.PublicKey)
			stop := ServeHTTP01(c.T, httpPort, ch.Token, keyAuth)
			var got struct{ Status string }
			c.Post(ch.URL, map[string]any{}).Must(c.T, 200).JSON(c.T, &got)
			for deadline := time.Now().Add(10 * time.Second); (got.Status == "pending" || got.Status == "processing") && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				c.Post(ch.URL, nil).Must(c.T, 200).JSON(c.T, &got)
			}
			stop()
			if got.Status != "valid" {
				c.T.Fatalf("challenge %s is %s", ch.URL, got.Status)
			}
		}
	}
}

// CSRFor makes a CSR for names with a new P-256 key.
func CSRFor(t *testing.T, names ...string) ([]byte, *ecdsa.PrivateKey) {
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

// Issue runs a whole order for names and returns the certificate PEM
// chain, the order and the certificate's key.
func (c *Client) Issue(httpPort int, names ...string) ([]byte, *Order, *ecdsa.PrivateKey) {
	c.T.Helper()
	o, r := c.NewOrder(names...)
	r.Must(c.T, 201)
	c.Authorize(o, httpPort)
	der, key := CSRFor(c.T, names...)
	url := o.URL
	c.Post(o.Finalize, map[string]string{"csr": B64.EncodeToString(der)}).Must(c.T, 200).JSON(c.T, o)
	// RFC 8555 §7.4: a server may finalize asynchronously (pebble does).
	for deadline := time.Now().Add(10 * time.Second); o.Status == "processing" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		c.Post(url, nil).Must(c.T, 200).JSON(c.T, o)
	}
	o.URL = url
	if o.Status != "valid" || o.Certificate == "" {
		c.T.Fatalf("order after finalize: %+v", o)
	}
	cert := c.Post(o.Certificate, nil).Must(c.T, 200)
	return cert.Body, o, key
}

// CSRWithCN makes a CSR with the given commonName and one SAN.
func CSRWithCN(t *testing.T, cn, san string) []byte {
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

// ServeHTTP01 answers the http-01 challenge token with keyAuth on the
// validator's port, as a client's standalone server does, until the
// returned stop is called.
func ServeHTTP01(t testing.TB, port int, token, keyAuth string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/acme-challenge/"+token {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, keyAuth)
	})}
	go srv.Serve(ln)
	return func() { srv.Close() }
}

// LeafOf parses the first certificate of a PEM chain.
func LeafOf(t testing.TB, chain []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(chain)
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
