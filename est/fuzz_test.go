package est

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.mozilla.org/pkcs7"
)

// FuzzEnrollBody sends arbitrary bodies to simpleenroll through the whole
// front end (router, CSR parsing, engine), authenticated as argus-agent.
// Bad input must never crash the server or give a 500, and a 200 must carry
// exactly one certificate. Seeds: bodies real clients sent in the tests
// (go test -run . -update-corpus).
func FuzzEnrollBody(f *testing.F) {
	f.Add([]byte("not base64"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "https://est.test/.well-known/est/argus/simpleenroll", bytes.NewReader(body))
		r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
		r.Header.Set("Content-Type", "application/pkcs10")
		r.SetBasicAuth("argus-agent", passwordOf("argus-agent"))
		w := httptest.NewRecorder()
		env.server.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(w.Body.String(), "\r\n", ""))
			if err != nil {
				t.Fatalf("200 with a body that is not base64: %q", w.Body.String())
			}
			p7, err := pkcs7.Parse(der)
			if err != nil || len(p7.Certificates) != 1 {
				t.Fatalf("200 without one certificate: %v", err)
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
			if !strings.HasPrefix(w.Body.String(), "4") || len(w.Body.String()) < 8 {
				t.Fatalf("%d without a message: %q", w.Code, w.Body.String())
			}
		default:
			t.Fatalf("status %d: %q", w.Code, w.Body.String())
		}
	})
}

// FuzzChallengePassword parses arbitrary CertificationRequestInfo bytes.
func FuzzChallengePassword(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, tbs []byte) {
		cp, found, err := ChallengePassword(tbs)
		if err != nil && (found || cp != "") {
			t.Fatalf("error %v with a value %q", err, cp)
		}
	})
}

// FuzzSplitPath maps arbitrary URL paths to a label and an operation.
func FuzzSplitPath(f *testing.F) {
	for _, p := range []string{"/.well-known/est/cacerts", "/.well-known/est/argus/simpleenroll", "/.well-known/est//cacerts", "/.well-known/est/a/b/cacerts"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		label, op, ok := splitPath(path)
		if !ok {
			return
		}
		if strings.Contains(label, "/") || strings.Contains(op, "/") || !strings.HasPrefix(path, PathPrefix) {
			t.Fatalf("%q gave label %q op %q", path, label, op)
		}
		switch op {
		case opCACerts, opCSRAttrs, opEnroll, opReenroll, opServerKeyGen, opTPMEnroll:
		default:
			t.Fatalf("%q gave unknown op %q", path, op)
		}
	})
}
