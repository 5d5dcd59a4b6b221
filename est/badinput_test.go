package est

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/testpki"
)

// estRequest is one raw EST request.
type estRequest struct {
	method, path string
	contentType  string
	body         []byte
	user         string // Basic credentials; password from passwordOf unless password is set
	password     string
	cert         *x509.Certificate
	key          crypto.Signer
	// expectContinue sends Expect: 100-continue, as curl does for large
	// bodies: the server's early refusal then arrives before the body is
	// sent. Without it, a refusal of a body this client sends on a
	// Connection: close request races the client's write (the server
	// closes with the body unread and the kernel resets the connection).
	expectContinue bool
}

// do sends r to the test server over a new TLS 1.3 connection and returns
// the status, the body and the response headers.
func (r estRequest) do(t testing.TB) (int, string, http.Header) {
	t.Helper()
	tc := &tls.Config{RootCAs: env.roots}
	if r.cert != nil {
		// Sent whatever CAs the server names, as curl and openssl do.
		cert := &tls.Certificate{Certificate: [][]byte{r.cert.Raw}, PrivateKey: r.key, Leaf: r.cert}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}
	if r.expectContinue {
		tr.ExpectContinueTimeout = time.Minute
	}
	c := &http.Client{Transport: tr}
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, "https://"+env.addr+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	ct := r.contentType
	if ct == "" && method == http.MethodPost {
		ct = "application/pkcs10"
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if r.expectContinue {
		req.Header.Set("Expect", "100-continue")
	}
	if r.user != "" {
		pw := r.password
		if pw == "" {
			pw = passwordOf(r.user)
		}
		req.SetBasicAuth(r.user, pw)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func b64(der []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(der)) }

// TestBadInput: every bad request gets the right status and a message a
// person can act on, and nothing is issued.
func TestBadInput(t *testing.T) {
	argusCert, argusKey := enrolled(t, "argus", "argus-agent", "bad.argus.test")
	defaultCert, defaultKey := enrolled(t, "", "default-user", "bad.example.internal")
	revokedCert, revokedKey := enrolled(t, "argus", "argus-agent", "revoked.argus.test")
	if err := env.engine.Revoke(context.Background(), revokedCert.SerialNumber, ca.KeyCompromise, ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}); err != nil {
		t.Fatal(err)
	}
	foreignCA, foreignKey, err := testpki.SelfSignedCA("Some Other CA")
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	foreignCert := testpki.IssueFrom(t, foreignCA, foreignKey, "impostor", key.Public())
	bootCert := testpki.IssueFrom(t, env.bootCA, env.bootKey, "vpb-device-0002", key.Public())

	goodCSR := newCSR(t, key, "", "ok.argus.test").Raw
	badSig := bytes.Clone(goodCSR)
	badSig[len(badSig)-3] ^= 0xff // inside the signature's INTEGERs
	renewCSR := newCSRFrom(t, &x509.CertificateRequest{RawSubject: argusCert.RawSubject, DNSNames: argusCert.DNSNames}, argusKey).Raw
	revokedRenewCSR := newCSRFrom(t, &x509.CertificateRequest{RawSubject: revokedCert.RawSubject, DNSNames: revokedCert.DNSNames}, revokedKey).Raw
	defaultRenewCSR := newCSRFrom(t, &x509.CertificateRequest{RawSubject: defaultCert.RawSubject, DNSNames: defaultCert.DNSNames}, defaultKey).Raw

	const enroll, argusEnroll, argusReenroll = "/.well-known/est/simpleenroll", "/.well-known/est/argus/simpleenroll", "/.well-known/est/argus/simplereenroll"
	tests := []struct {
		name   string
		req    estRequest
		status int
		msg    string
	}{
		{"body not base64", estRequest{path: enroll, user: "default-user", body: []byte("this is *not* base64!")}, 400, "invalid base64"},
		{"base64 of garbage", estRequest{path: enroll, user: "default-user", body: b64([]byte("certainly not a PKCS#10 request"))}, 400, "malformed PKCS10"},
		{"CSR with a bad signature", estRequest{path: argusEnroll, user: "argus-agent", body: b64(badSig)}, 400, "signature"},
		{"identifier outside the profile", estRequest{path: argusEnroll, user: "argus-agent", body: b64(newCSR(t, key, "", "evil.example.com").Raw)}, 403, "evil.example.com"},
		{"unknown label", estRequest{path: "/.well-known/est/nope/simpleenroll", user: "default-user", body: b64(goodCSR)}, 404, `unknown EST label "nope"`},
		{"unknown operation", estRequest{path: "/.well-known/est/argus/simpleenrol", user: "argus-agent", body: b64(goodCSR)}, 404, "not an EST URL"},
		{"no credentials", estRequest{path: argusEnroll, body: b64(goodCSR)}, 401, "needs HTTP Basic credentials"},
		{"wrong password", estRequest{path: argusEnroll, user: "argus-agent", password: "wrong", body: b64(goodCSR)}, 401, "wrong user name or password"},
		{"unknown user", estRequest{path: argusEnroll, user: "nobody", password: "whatever", body: b64(goodCSR)}, 401, "wrong user name or password"},
		{"credentials of another service", estRequest{path: enroll, user: "argus-agent", body: b64(goodCSR)}, 403, "bound to service argus, not default"},
		{"certificate from another CA for re-enrol", estRequest{path: argusReenroll, cert: foreignCert, key: key, body: b64(goodCSR)}, 403, "not a valid client certificate of this CA"},
		{"bootstrap certificate for re-enrol", estRequest{path: argusReenroll, cert: bootCert, key: key, body: b64(goodCSR)}, 403, "not a valid client certificate of this CA"},
		{"bootstrap certificate for another profile", estRequest{path: argusEnroll, cert: bootCert, key: key, body: b64(goodCSR)}, 403, "not bound to profile argus"},
		{"re-enrol without a client certificate", estRequest{path: argusReenroll, user: "argus-agent", body: b64(renewCSR)}, 403, "needs the TLS client certificate"},
		{"re-enrol changing the subject", estRequest{path: argusReenroll, cert: argusCert, key: argusKey, body: b64(newCSR(t, argusKey, "", "other.argus.test").Raw)}, 403, "must be identical"},
		{"re-enrol with a revoked certificate", estRequest{path: argusReenroll, cert: revokedCert, key: revokedKey, body: b64(revokedRenewCSR)}, 403, "is revoked"},
		{"re-enrol at another profile", estRequest{path: argusReenroll, cert: defaultCert, key: defaultKey, body: b64(defaultRenewCSR)}, 403, "issued from profile default, not argus"},
		{"client certificate where only Basic is accepted", estRequest{path: "/.well-known/est/clara-signing/simpleenroll", cert: argusCert, key: argusKey, body: b64(goodCSR)}, 403, "does not accept TLS client certificates"},
		{"serverkeygen without channel binding where required", estRequest{path: "/.well-known/est/clara-signing/serverkeygen", user: "clara-signer", body: b64(newCSR(t, key, "clara-keygen").Raw)}, 403, "requires channel binding"},
		{"body over the limit", estRequest{path: enroll, user: "default-user", body: bytes.Repeat([]byte("A"), MaxBodySize+1), expectContinue: true}, 413, "larger than 65536 bytes"},
		{"wrong content type", estRequest{path: enroll, user: "default-user", contentType: "text/plain", body: b64(goodCSR)}, 415, "must be application/pkcs10"},
		{"GET on simpleenroll", estRequest{method: http.MethodGet, path: enroll}, 405, ""},
		{"tpmenroll", estRequest{path: "/.well-known/est/tpmenroll", user: "default-user", contentType: "multipart/mixed"}, 501, "not offered"},
	}
	before := certCount(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := tc.req.do(t)
			if status != tc.status || !strings.Contains(body, tc.msg) {
				t.Errorf("got %d %q; want %d with %q", status, body, tc.status, tc.msg)
			}
			if status == http.StatusUnauthorized && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic realm=") {
				t.Errorf("401 without a Basic challenge: %q", hdr.Get("WWW-Authenticate"))
			}
			if ct := hdr.Get("Content-Type"); status != 405 && !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q; RFC 7030 §4.2.3 wants a plain-text message", ct)
			}
		})
	}
	if after := certCount(t); after != before {
		t.Errorf("bad requests issued %d certificates", after-before)
	}
}
