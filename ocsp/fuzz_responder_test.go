package ocsp_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vcc/vccpki/internal/testtool"
	xocsp "golang.org/x/crypto/ocsp"
)

// FuzzResponder sends arbitrary bodies through the whole POST path of the
// shared responder (parsing, issuer matching, the cache, live signing
// within its budget). Nothing may panic, and every answer must be an
// OCSPResponse that x/crypto/ocsp reads. The corpus holds requests made
// by openssl ocsp and x/crypto/ocsp (TestCaptureFuzzCorpus).
func FuzzResponder(f *testing.F) {
	mux := http.NewServeMux()
	shared.responder.Register(mux)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/ocsp-request")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 413 {
			t.Fatalf("HTTP %d", rec.Code)
		}
		_, err := xocsp.ParseResponse(rec.Body.Bytes(), nil)
		var re xocsp.ResponseError
		if err == nil || errors.As(err, &re) {
			return
		}
		// x/crypto reads one SingleResponse without a certificate to pick by.
		if len(parseBasic(t, rec.Body.Bytes()).TBS.Responses) < 2 {
			t.Fatalf("x/crypto/ocsp cannot read the answer %x: %v", rec.Body.Bytes(), err)
		}
	})
}

// TestCaptureFuzzCorpus captures real client traffic: requests made by
// openssl ocsp (with and without a nonce) and by x/crypto/ocsp (SHA-1,
// SHA-256), and the GET path curl sends for each. Every one must get a
// successful answer, by POST and by GET. With OCSP_CAPTURE_CORPUS=1 it
// also writes them as the fuzz corpora in testdata/fuzz (committed).
func TestCaptureFuzzCorpus(t *testing.T) {
	s := shared.stack
	openssl := testtool.Need(t, "openssl")
	dir := s.writeFiles(t, map[string]*x509.Certificate{"good": shared.good.Certificate})
	requests := map[string][]byte{
		"xcrypto-sha1":   ocspRequest(t, shared.good.Certificate, s.services, crypto.SHA1),
		"xcrypto-sha256": ocspRequest(t, shared.good.Certificate, s.services, crypto.SHA256),
		"multi-nonce":    multiRequest(t, s.services, crypto.SHA256, []byte{4, 2, 1, 2}, shared.good.Certificate.SerialNumber, shared.revoked.Certificate.SerialNumber),
	}
	for _, nonce := range []string{"-nonce", "-no_nonce"} {
		out := filepath.Join(dir, "req.der")
		if b, err := exec.Command(openssl, "ocsp", nonce, "-issuer", filepath.Join(dir, "services.pem"), "-cert", filepath.Join(dir, "good.pem"), "-reqout", out).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v %s", err, b)
		}
		der, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		requests["openssl"+nonce] = der
	}
	for name, der := range requests {
		get := "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(der))
		for method, body := range map[string][]byte{
			"POST": func() []byte { _, b := s.post(t, der, "application/ocsp-request"); return b }(),
			"GET":  func() []byte { _, b := s.get(t, get); return b }(),
		} {
			if _, err := xocsp.ParseResponseForCert(body, shared.good.Certificate, s.services); err != nil {
				t.Errorf("%s %s: %v", name, method, err)
			}
		}
	}
	if os.Getenv("OCSP_CAPTURE_CORPUS") != "1" {
		return
	}
	write := func(target, name, value string) {
		p := filepath.Join("testdata", "fuzz", target, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("go test fuzz v1\n"+value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, der := range requests {
		write("FuzzParseRequest", name, fmt.Sprintf("[]byte(%q)", der))
		write("FuzzResponder", name, fmt.Sprintf("[]byte(%q)", der))
		write("FuzzDecodeGET", name, fmt.Sprintf("string(%q)", url.PathEscape(base64.StdEncoding.EncodeToString(der))))
	}
}
