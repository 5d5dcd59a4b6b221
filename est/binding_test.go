package est

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	gsest "github.com/globalsign/est"
	"github.com/smallstep/scep/x509util"
	"go.mozilla.org/pkcs7"
)

// boundCSR makes a clara-signing CSR whose challengePassword is cp.
func boundCSR(t testing.TB, key crypto.Signer, cn, cp string) []byte {
	t.Helper()
	der, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, ChallengePassword: cp}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// dialTLS13 opens a TLS 1.3 connection to the test server and returns it
// with its RFC 9266 tls-exporter channel binding.
func dialTLS13(t testing.TB) (*tls.Conn, []byte) {
	t.Helper()
	conn, err := tls.Dial("tcp", env.addr, &tls.Config{RootCAs: env.roots, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cs := conn.ConnectionState()
	cb, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	return conn, cb
}

// enrollOn sends a simpleenroll for clara-signing on conn.
func enrollOn(t testing.TB, conn *tls.Conn, csr []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+env.addr+"/.well-known/est/clara-signing/simpleenroll", bytes.NewReader(b64(csr)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/pkcs10")
	req.SetBasicAuth("clara-signer", passwordOf("clara-signer"))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestChannelBindingTLS13: on TLS 1.3 the CSR carries the RFC 9266
// tls-exporter value of its own connection; a CSR made for another
// connection, or without the value, is refused (RFC 7030 §3.5).
func TestChannelBindingTLS13(t *testing.T) {
	key := newKey(t)
	connA, cbA := dialTLS13(t)
	connB, _ := dialTLS13(t)
	csrA := boundCSR(t, key, "clara-build-1", base64.StdEncoding.EncodeToString(cbA))

	before := certCount(t)
	if status, body := enrollOn(t, connB, csrA); status != http.StatusForbidden || !strings.Contains(body, "made for another session") {
		t.Errorf("CSR replayed on another connection: %d %q; want 403", status, body)
	}
	connC, _ := dialTLS13(t)
	if status, body := enrollOn(t, connC, newCSR(t, key, "clara-build-1").Raw); status != http.StatusForbidden || !strings.Contains(body, "requires channel binding") {
		t.Errorf("CSR without challengePassword: %d %q; want 403", status, body)
	}
	if after := certCount(t); after != before {
		t.Fatalf("refused requests issued %d certificates", after-before)
	}

	status, body := enrollOn(t, connA, csrA)
	if status != http.StatusOK {
		t.Fatalf("bound CSR on its own connection: %d %q", status, body)
	}
	der, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil || len(p7.Certificates) != 1 {
		t.Fatalf("certs-only reply: %v", err)
	}
	c := p7.Certificates[0]
	if c.Subject.CommonName != "clara-build-1" {
		t.Errorf("subject %s", c.Subject)
	}
	verifyIssued(t, c, x509.ExtKeyUsageCodeSigning)
}

// TestChannelBindingTLS12: the globalsign client puts tls-unique into the
// CSR when it has a SigningKey and the session is TLS 1.2 (RFC 7030 §3.5).
func TestChannelBindingTLS12(t *testing.T) {
	key := newKey(t)
	c := client("clara-signing", "clara-signer", nil, nil)
	c.Host = env.addr12
	c.SigningKey = key
	cert, err := c.Enroll(t.Context(), newCSR(t, key, "clara-build-12"))
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, cert, x509.ExtKeyUsageCodeSigning)

	// Without SigningKey the client sends no binding, and is refused.
	c.SigningKey = nil
	_, err = c.Enroll(t.Context(), newCSR(t, key, "clara-build-13"))
	var ee gsest.Error
	if !asESTError(err, &ee) || ee.StatusCode() != http.StatusForbidden || !strings.Contains(ee.Error(), "tls-unique") {
		t.Errorf("unbound CSR on TLS 1.2: %v; want 403 naming tls-unique", err)
	}
}

func asESTError(err error, target *gsest.Error) bool {
	e, ok := err.(gsest.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestChallengePassword parses the attribute from CSRs of several shapes.
func TestChallengePassword(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name  string
		tbs   []byte
		want  string
		found bool
		err   bool
	}{
		{"absent", newCSR(t, key, "x").RawTBSCertificateRequest, "", false, false},
		{"present", mustParseCSR(t, boundCSR(t, key, "x", "abc+/=\r\n")).RawTBSCertificateRequest, "abc+/=\r\n", true, false},
		{"not DER", []byte{0x30, 0x03, 0x02}, "", false, true},
		{"trailing bytes", append(bytes.Clone(newCSR(t, key, "x").RawTBSCertificateRequest), 0), "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := ChallengePassword(tc.tbs)
			if got != tc.want || found != tc.found || (err != nil) != tc.err {
				t.Errorf("ChallengePassword = %q, %v, %v; want %q, %v, error %v", got, found, err, tc.want, tc.found, tc.err)
			}
		})
	}
}

func mustParseCSR(t testing.TB, der []byte) *x509.CertificateRequest {
	t.Helper()
	c, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
