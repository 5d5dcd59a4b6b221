package est

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	gsest "github.com/globalsign/est"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/testpki"
)

// TestClientCACerts: /cacerts with the globalsign client, with and
// without a label (RFC 7030 §4.1).
func TestClientCACerts(t *testing.T) {
	services, _ := env.engine.CACert(ca.ServicesCA)
	signing, _ := env.engine.CACert(ca.CodeSigningCA)
	for _, tc := range []struct {
		label string
		want  []*x509.Certificate
	}{
		{"", []*x509.Certificate{services, env.engine.Root()}},
		{"argus", []*x509.Certificate{services, env.engine.Root()}},
		{"clara-signing", []*x509.Certificate{signing, env.engine.Root()}},
	} {
		t.Run("label="+tc.label, func(t *testing.T) {
			got, err := client(tc.label, "", nil, nil).CACerts(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tc.want, func(a, b *x509.Certificate) bool { return a.Equal(b) }) {
				t.Errorf("cacerts returned %d certificates, not the issuing CA then the root", len(got))
			}
		})
	}
	_, err := client("nope", "", nil, nil).CACerts(t.Context())
	var ee gsest.Error
	if !errors.As(err, &ee) || ee.StatusCode() != http.StatusNotFound {
		t.Errorf("unknown label: %v; want 404", err)
	}
}

// TestClientCSRAttrs: /csrattrs says what each profile accepts (RFC 7030 §4.5).
func TestClientCSRAttrs(t *testing.T) {
	for _, tc := range []struct {
		label            string
		challenge, named bool
	}{
		{"", false, false},
		{"argus", false, false},
		{"clara-signing", true, true},
	} {
		t.Run("label="+tc.label, func(t *testing.T) {
			a, err := client(tc.label, "", nil, nil).CSRAttrs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			has := func(oid asn1.ObjectIdentifier) bool { return slices.ContainsFunc(a.OIDs, oid.Equal) }
			if has(oidChallengePassword) != tc.challenge || has(oidCommonName) != tc.named {
				t.Errorf("OIDs %v: challengePassword %v, commonName %v; want %v, %v", a.OIDs, has(oidChallengePassword), has(oidCommonName), tc.challenge, tc.named)
			}
			var ec, extReq bool
			for _, at := range a.Attributes {
				ec = ec || at.Type.Equal(oidECPublicKey)
				extReq = extReq || at.Type.Equal(oidExtensionRequest)
			}
			if !ec || !extReq {
				t.Errorf("attributes %v lack id-ecPublicKey or extensionRequest", a.Attributes)
			}
		})
	}
}

// TestClientEnrollBasic: /simpleenroll with HTTP Basic credentials bound
// to the profile (RFC 7030 §4.2.1, §3.2.3).
func TestClientEnrollBasic(t *testing.T) {
	for _, tc := range []struct{ label, user, name string }{
		{"", "default-user", "basic.example.internal"},
		{"argus", "argus-agent", "basic.argus.test"},
	} {
		t.Run("label="+tc.label, func(t *testing.T) {
			key := newKey(t)
			cert, err := client(tc.label, tc.user, nil, nil).Enroll(t.Context(), newCSR(t, key, "", tc.name))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cert.DNSNames, []string{tc.name}) || !cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
				t.Errorf("certificate names %v, or its key is not the CSR's", cert.DNSNames)
			}
			verifyIssued(t, cert, x509.ExtKeyUsageServerAuth)
			if a := lastAudit(t); a.Action != "issue" || a.Actor != "est:user:"+tc.user {
				t.Errorf("last audit entry %s by %s; want issue by est:user:%s", a.Action, a.Actor, tc.user)
			}
		})
	}
}

// enrolled returns a fresh argus certificate and its key, enrolled with
// Basic credentials.
func enrolled(t testing.TB, label, user, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	cert, err := client(label, user, nil, nil).Enroll(context.Background(), newCSR(t, key, "", name))
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestClientEnrollWithCertificate: /simpleenroll authenticated by a TLS
// client certificate of ours (RFC 7030 §3.3.2), at the profile that issued
// it, for the names it carries (a new key for the same identity).
func TestClientEnrollWithCertificate(t *testing.T) {
	argusCert, argusKey := enrolled(t, "argus", "argus-agent", "agent.argus.test")
	for _, tc := range []struct{ label, name string }{
		{"argus", "agent.argus.test"},
		{"argus", "AGENT.argus.test"}, // DNS names compare without case
	} {
		t.Run("name="+tc.name, func(t *testing.T) {
			cert, err := client(tc.label, "", argusCert, argusKey).Enroll(t.Context(), newCSR(t, newKey(t), "", tc.name))
			if err != nil {
				t.Fatal(err)
			}
			verifyIssued(t, cert, x509.ExtKeyUsageClientAuth)
			if a := lastAudit(t); a.Actor != "est:cert:"+ca.FormatSerial(argusCert.SerialNumber) {
				t.Errorf("audit actor %s; want the client certificate's serial", a.Actor)
			}
		})
	}
}

// TestClientEnrollBootstrap: a manufacturer's certificate enrols in the
// profile its CA is bound to.
func TestClientEnrollBootstrap(t *testing.T) {
	devKey := newKey(t)
	devCert := testpki.IssueFrom(t, env.bootCA, env.bootKey, "vpb-device-0001", devKey.Public())
	cert, err := client("vpb", "", devCert, devKey).Enroll(t.Context(), newCSR(t, devKey, "", "vpb-device-0001.vpb.test"))
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, cert, x509.ExtKeyUsageClientAuth)
	if a := lastAudit(t); a.Actor != "est:bootstrap:acme-devices/vpb-device-0001" {
		t.Errorf("audit actor %s", a.Actor)
	}
}

// TestClientReenroll: /simplereenroll renews the certificate presented
// (RFC 7030 §4.2.2), with and without a label.
func TestClientReenroll(t *testing.T) {
	for _, tc := range []struct{ label, user, name string }{
		{"", "default-user", "renew.example.internal"},
		{"argus", "argus-agent", "renew.argus.test"},
	} {
		t.Run("label="+tc.label, func(t *testing.T) {
			old, key := enrolled(t, tc.label, tc.user, tc.name)
			tmpl := &x509.CertificateRequest{RawSubject: old.RawSubject, DNSNames: old.DNSNames}
			csr := newCSRFrom(t, tmpl, key)
			renewed, err := client(tc.label, "", old, key).Reenroll(t.Context(), csr)
			if err != nil {
				t.Fatal(err)
			}
			if renewed.SerialNumber.Cmp(old.SerialNumber) == 0 || !slices.Equal(renewed.DNSNames, old.DNSNames) || !bytes.Equal(renewed.RawSubject, old.RawSubject) {
				t.Errorf("renewed certificate: serial %x names %v; old %x %v", renewed.SerialNumber, renewed.DNSNames, old.SerialNumber, old.DNSNames)
			}
			verifyIssued(t, renewed, x509.ExtKeyUsageClientAuth)
		})
	}
}

// TestClientServerKeyGen: /serverkeygen returns a PKCS#8 key of the
// profile's first key type and its certificate (RFC 7030 §4.4.2), and the
// key is nowhere in the store.
func TestClientServerKeyGen(t *testing.T) {
	for _, tc := range []struct{ label, user, name string }{
		{"", "default-user", "keygen.example.internal"},
		{"argus", "argus-agent", "keygen.argus.test"},
	} {
		t.Run("label="+tc.label, func(t *testing.T) {
			csrKey := newKey(t)
			cert, keyDER, err := client(tc.label, tc.user, nil, nil).ServerKeyGen(t.Context(), newCSR(t, csrKey, "", tc.name))
			if err != nil {
				t.Fatal(err)
			}
			k, err := x509.ParsePKCS8PrivateKey(keyDER)
			if err != nil {
				t.Fatalf("the key part is not PKCS#8: %v", err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok || ek.Curve != elliptic.P256() || !ek.PublicKey.Equal(cert.PublicKey) {
				t.Fatalf("key %T is not the P-256 key of the certificate", k)
			}
			if ek.PublicKey.Equal(csrKey.Public()) || !slices.Equal(cert.DNSNames, []string{tc.name}) {
				t.Errorf("certificate names %v or key taken from the CSR", cert.DNSNames)
			}
			verifyIssued(t, cert, x509.ExtKeyUsageServerAuth)
			scalar, err := ek.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			assertNotStored(t, scalar)
		})
	}
}

// assertNotStored fails if secret appears in any file of the store.
func assertNotStored(t *testing.T, secret []byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(env.dir, "vccpki.db*"))
	if len(files) == 0 {
		t.Fatal("no store files found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, secret) {
			t.Errorf("%s contains the server-generated private key", f)
		}
	}
}

func newCSRFrom(t testing.TB, tmpl *x509.CertificateRequest, key *ecdsa.PrivateKey) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}
