package ocsp_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
)

// shared is the package's default stack, started once (TestMain) with a
// good, a revoked and a code-signing certificate.
var shared struct {
	*stack
	good, revoked, signing *ca.Issued
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ocsp-test")
	if err != nil {
		panic(err)
	}
	s, err := startStack(dir, stackOptions{})
	if err != nil {
		panic(err)
	}
	shared.stack = s
	tb := &mainTB{}
	shared.good = s.issue(tb, "argus", "good.argus.test")
	shared.revoked = s.issue(tb, "argus", "revoked.argus.test")
	shared.signing = s.issue(tb, "clara-signing", "clara-model-7")
	s.revokeElsewhere(tb, shared.revoked.Certificate.SerialNumber, ca.KeyCompromise)
	code := m.Run()
	s.stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mainTB lets TestMain use the helpers that take a testing.TB.
type mainTB struct{ testing.TB }

func (*mainTB) Helper()                   {}
func (*mainTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (*mainTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// parseResponse parses a response body with x/crypto/ocsp, as Go clients
// do, checking the signature and the responder certificate against the
// issuer. Every body the tests receive goes through it.
func parseResponse(t *testing.T, body []byte, cert, issuer *x509.Certificate) (*xocsp.Response, error) {
	t.Helper()
	resp, err := xocsp.ParseResponseForCert(body, cert, issuer)
	var re xocsp.ResponseError
	if err != nil && !errors.As(err, &re) {
		t.Fatalf("x/crypto/ocsp cannot parse the response (%x): %v", body, err)
	}
	return resp, err
}

func wantStatus(t *testing.T, body []byte, want xocsp.ResponseStatus) {
	t.Helper()
	_, err := parseResponse(t, body, nil, nil)
	var re xocsp.ResponseError
	if !errors.As(err, &re) || re.Status != want {
		t.Fatalf("response status: %v, want %v", err, want)
	}
}

func ocspRequest(t *testing.T, cert, issuer *x509.Certificate, h crypto.Hash) []byte {
	t.Helper()
	der, err := xocsp.CreateRequest(cert, issuer, &xocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestGoClient: x/crypto/ocsp requests, POST and GET, SHA-1 and SHA-256
// CertIDs, for a good, a revoked and an unknown certificate of each CA.
func TestGoClient(t *testing.T) {
	s := shared.stack
	unknown := &x509.Certificate{SerialNumber: big.NewInt(0x4ab1e0123)}
	for _, tc := range []struct {
		name   string
		cert   *x509.Certificate
		issuer *x509.Certificate
		status int
	}{
		{"good", shared.good.Certificate, s.services, xocsp.Good},
		{"revoked", shared.revoked.Certificate, s.services, xocsp.Revoked},
		{"unknown serial", unknown, s.services, xocsp.Unknown},
		{"code signing", shared.signing.Certificate, s.codeSign, xocsp.Good},
		{"other CA's serial", shared.good.Certificate, s.codeSign, xocsp.Unknown},
	} {
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			for _, method := range []string{"POST", "GET"} {
				t.Run(fmt.Sprintf("%s/%v/%s", tc.name, h, method), func(t *testing.T) {
					der := ocspRequest(t, tc.cert, tc.issuer, h)
					var resp *http.Response
					var body []byte
					if method == "POST" {
						resp, body = s.post(t, der, "application/ocsp-request")
					} else {
						resp, body = s.get(t, "/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(der)))
					}
					if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
						t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
					}
					r, err := parseResponse(t, body, tc.cert, tc.issuer)
					if err != nil {
						t.Fatal(err)
					}
					if r.Status != tc.status || r.IssuerHash != h || r.SerialNumber.Cmp(tc.cert.SerialNumber) != 0 {
						t.Fatalf("status %d hash %v serial %x", r.Status, r.IssuerHash, r.SerialNumber)
					}
					if tc.status == xocsp.Revoked && (r.RevocationReason != xocsp.KeyCompromise || r.RevokedAt.IsZero()) {
						t.Errorf("revoked without reason or time: %+v", r)
					}
					if r.Certificate == nil || r.Certificate.Subject.CommonName != "OCSP Responder for "+tc.issuer.Subject.CommonName {
						t.Errorf("responder certificate %v", r.Certificate)
					}
					checkCachingHeaders(t, resp, r)
				})
			}
		}
	}
}

// checkCachingHeaders: RFC 5019 §6.2.
func checkCachingHeaders(t *testing.T, resp *http.Response, r *xocsp.Response) {
	t.Helper()
	lm, err1 := http.ParseTime(resp.Header.Get("Last-Modified"))
	exp, err2 := http.ParseTime(resp.Header.Get("Expires"))
	if err1 != nil || err2 != nil || !lm.Equal(r.ProducedAt) || !exp.Equal(r.NextUpdate) {
		t.Errorf("Last-Modified %q Expires %q, producedAt %v nextUpdate %v", resp.Header.Get("Last-Modified"), resp.Header.Get("Expires"), r.ProducedAt, r.NextUpdate)
	}
	cc := resp.Header.Get("Cache-Control")
	var maxAge int
	if _, err := fmt.Sscanf(cc, "max-age=%d, public, no-transform, must-revalidate", &maxAge); err != nil || maxAge <= 0 || maxAge > 3600 {
		t.Errorf("Cache-Control %q", cc)
	}
	if et := resp.Header.Get("ETag"); len(et) < 3 || et[0] != '"' {
		t.Errorf("ETag %q", et)
	}
}

// TestPreSigned: without a nonce, a valid certificate's response comes
// from the cache, signed before the request; the same bytes twice.
func TestPreSigned(t *testing.T) {
	s := shared.stack
	der := ocspRequest(t, shared.good.Certificate, s.services, crypto.SHA1)
	_, first := s.post(t, der, "application/ocsp-request")
	_, second := s.post(t, der, "application/ocsp-request")
	if string(first) != string(second) {
		t.Error("two requests got differently signed responses")
	}
	r, _ := parseResponse(t, first, shared.good.Certificate, s.services)
	if r.ProducedAt.After(time.Now()) || r.Status != xocsp.Good {
		t.Errorf("response %+v", r)
	}
}

// TestConditionalGET: a cache revalidating with If-None-Match or
// If-Modified-Since gets 304.
func TestConditionalGET(t *testing.T) {
	s := shared.stack
	path := "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(ocspRequest(t, shared.good.Certificate, s.services, crypto.SHA1)))
	resp, _ := s.get(t, path)
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	for _, tc := range []struct {
		name   string
		header []string
		code   int
	}{
		{"matching ETag", []string{"If-None-Match", etag}, 304},
		{"one of several ETags", []string{"If-None-Match", `"abc", ` + etag}, 304},
		{"other ETag", []string{"If-None-Match", `"abc"`}, 200},
		{"not modified since", []string{"If-Modified-Since", lm}, 304},
		{"modified since", []string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.get(t, path, tc.header...)
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.code)
			}
			if tc.code == 200 {
				parseResponse(t, body, shared.good.Certificate, s.services)
			}
		})
	}
}

// TestGETEncodings: the base64 in the path may come URL-encoded (as RFC
// 5019 asks), plain, URL-safe, or without padding.
func TestGETEncodings(t *testing.T) {
	s := shared.stack
	// Find a request whose base64 has '+' and '/', so that every
	// encoding differs.
	var der []byte
	var b64 string
	for range 200 {
		der = ocspRequest(t, s.issue(t, "argus", "enc.argus.test").Certificate, s.services, crypto.SHA1)
		if b64 = base64.StdEncoding.EncodeToString(der); strings.ContainsAny(b64, "+") && strings.Contains(b64, "/") && !strings.Contains(b64, "//") && strings.HasSuffix(b64, "=") {
			break
		}
	}
	for name, path := range map[string]string{
		"URL-encoded":      url.PathEscape(b64),
		"fully escaped":    strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(b64),
		"plain":            b64,
		"URL-safe":         base64.URLEncoding.EncodeToString(der),
		"without padding":  base64.RawStdEncoding.EncodeToString(der),
		"URL-safe, no pad": base64.RawURLEncoding.EncodeToString(der),
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := s.get(t, "/ocsp/"+path)
			if resp.StatusCode != 200 {
				t.Fatalf("HTTP %d", resp.StatusCode)
			}
			if _, err := parseResponse(t, body, nil, s.services); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGETDoubleSlash: plain base64 may hold "//". Such a request reaches
// the responder (and decodes) instead of being redirected by the mux to a
// cleaned path. The request is built until its base64 has a "//".
func TestGETDoubleSlash(t *testing.T) {
	s := shared.stack
	good := s.issue(t, "argus", "slash.argus.test")
	for i := 0; ; i++ {
		nonce := append([]byte{0x04, 0x10}, bytes.Repeat([]byte{byte(i)}, 16)...)
		nonce[2] = 0xff // 0xff 0xff.. in base64 gives "//" often
		nonce[3] = 0xff
		nonce[4] = 0xff
		der := multiRequest(t, s.services, crypto.SHA1, nonce, good.Certificate.SerialNumber)
		b64 := base64.StdEncoding.EncodeToString(der)
		if !strings.Contains(b64, "//") {
			if i > 255 {
				t.Fatal("no request with // in its base64")
			}
			continue
		}
		resp, body := s.get(t, "/ocsp/"+b64)
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d for %s", resp.StatusCode, b64)
		}
		if _, err := parseResponse(t, body, nil, s.services); err != nil {
			t.Fatal(err)
		}
		return
	}
}

// TestSeveralCertIDs: one request for three certificates gets one signed
// response with three SingleResponses, in the request's order.
func TestSeveralCertIDs(t *testing.T) {
	s := shared.stack
	unknown := big.NewInt(0x55aa55aa)
	der := multiRequest(t, s.services, crypto.SHA256, nil, shared.good.Certificate.SerialNumber, shared.revoked.Certificate.SerialNumber, unknown)
	resp, body := s.post(t, der, "application/ocsp-request")
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		serial *big.Int
		status int
	}{
		{shared.good.Certificate.SerialNumber, xocsp.Good},
		{shared.revoked.Certificate.SerialNumber, xocsp.Revoked},
		{unknown, xocsp.Unknown},
	} {
		r, err := parseResponse(t, body, &x509.Certificate{SerialNumber: tc.serial}, s.services)
		if err != nil || r.Status != tc.status || r.IssuerHash != crypto.SHA256 {
			t.Errorf("serial %x: %+v %v", tc.serial, r, err)
		}
	}
	if got := singleSerials(t, body); len(got) != 3 || got[0].Cmp(shared.good.Certificate.SerialNumber) != 0 || got[2].Cmp(unknown) != 0 {
		t.Errorf("SingleResponses for %v", got)
	}
	// CertIDs naming two different CAs cannot share one responder's signature.
	mixed := multiRequestMixed(t, shared.good.Certificate, s.services, shared.signing.Certificate, s.codeSign)
	_, body = s.post(t, mixed, "application/ocsp-request")
	wantStatus(t, body, xocsp.Unauthorized)
}

// TestNonce: the nonce is echoed (RFC 8954), in a freshly signed response
// that no HTTP cache may keep.
func TestNonce(t *testing.T) {
	s := shared.stack
	nonce := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name      string
		extnValue []byte
	}{
		{"RFC 8954 OCTET STRING, 32 octets", append([]byte{0x04, 32}, nonce...)},
		{"RFC 8954 OCTET STRING, 1 octet", []byte{0x04, 1, 0x42}},
		{"raw octets (RFC 2560 clients)", nonce[:16]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der := multiRequest(t, s.services, crypto.SHA1, tc.extnValue, shared.good.Certificate.SerialNumber)
			resp, body := s.post(t, der, "application/ocsp-request")
			r, err := parseResponse(t, body, shared.good.Certificate, s.services)
			if err != nil || r.Status != xocsp.Good {
				t.Fatalf("%+v %v", r, err)
			}
			if got := responseNonce(t, body); string(got) != string(tc.extnValue) {
				t.Errorf("nonce %x, want %x", got, tc.extnValue)
			}
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("ETag") != "" {
				t.Errorf("a nonce response is cacheable: %v", resp.Header)
			}
		})
	}
}

// TestRevocationPickup: a revocation written by another store handle (as
// vccpki revoke does from its own process) is served by the running
// responder, with its reason, without a restart: from the cache, with
// the change feed re-signing it.
func TestRevocationPickup(t *testing.T) {
	s := shared.stack
	iss := s.issue(t, "argus", "pickup.argus.test")
	der := ocspRequest(t, iss.Certificate, s.services, crypto.SHA1)
	eventually(t, "the new certificate is pre-signed", func() bool {
		_, body := s.post(t, der, "application/ocsp-request")
		r, err := parseResponse(t, body, iss.Certificate, s.services)
		return err == nil && r.Status == xocsp.Good
	})
	s.revokeElsewhere(t, iss.Certificate.SerialNumber, ca.Superseded)
	took := eventually(t, "revoked is served", func() bool {
		_, body := s.post(t, der, "application/ocsp-request")
		r, err := parseResponse(t, body, iss.Certificate, s.services)
		return err == nil && r.Status == xocsp.Revoked && r.RevocationReason == xocsp.Superseded
	})
	t.Logf("revoked served %v after the revocation committed", took.Round(time.Millisecond))
}
