package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serialN int64 = 100

func mkCert(t *testing.T, parent *testCA, tmpl *x509.Certificate) *testCA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serialN++
	tmpl.SerialNumber = big.NewInt(serialN)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	signer, signerKey := tmpl, k
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, k.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{c, k}
}

func caTmpl(cn string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"VCC"}}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
}

func leafTmpl(cn string, eku x509.ExtKeyUsage, roles ...string) *x509.Certificate {
	t := &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"VCC"}}, ExtKeyUsage: []x509.ExtKeyUsage{eku}, KeyUsage: x509.KeyUsageDigitalSignature}
	for _, r := range roles {
		u, _ := url.Parse(RoleURI(r))
		t.URIs = append(t.URIs, u)
	}
	return t
}

func TestMTLS(t *testing.T) {
	root := mkCert(t, nil, caTmpl("VCC Root CA"))
	admin := mkCert(t, root, caTmpl("VCC Admin CA"))
	services := mkCert(t, root, caTmpl("VCC Services CA"))
	stranger := mkCert(t, nil, caTmpl("Stranger CA"))

	good := mkCert(t, admin, leafTmpl("automation-1", x509.ExtKeyUsageClientAuth, "pki_admin", "auditor"))
	noRoles := mkCert(t, admin, leafTmpl("nobody", x509.ExtKeyUsageClientAuth))
	revoked := mkCert(t, admin, leafTmpl("gone", x509.ExtKeyUsageClientAuth, "pki_admin"))
	unknown := mkCert(t, admin, leafTmpl("forged", x509.ExtKeyUsageClientAuth, "pki_admin"))
	serverOnly := mkCert(t, admin, leafTmpl("server", x509.ExtKeyUsageServerAuth, "pki_admin"))
	expiredT := leafTmpl("old", x509.ExtKeyUsageClientAuth, "pki_admin")
	expiredT.NotBefore, expiredT.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	expired := mkCert(t, admin, expiredT)
	fromServices := mkCert(t, services, leafTmpl("clara.test", x509.ExtKeyUsageClientAuth, "pki_admin"))
	fromStranger := mkCert(t, stranger, leafTmpl("x", x509.ExtKeyUsageClientAuth, "pki_admin"))

	status := func(_ context.Context, serial *big.Int) (CertStatus, error) {
		switch serial.Cmp(revoked.cert.SerialNumber) {
		case 0:
			return CertRevoked, nil
		}
		if serial.Cmp(unknown.cert.SerialNumber) == 0 {
			return CertUnknown, nil
		}
		return CertGood, nil
	}
	m, err := NewMTLS(MTLSConfig{AdminCA: admin.cert, Others: []*x509.Certificate{services.cert, root.cert}, Status: status})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cert       *testCA // nil: no client certificate
		wantRoles  []string
		wantStatus int // 0: accepted; -1: no credentials
		wantDetail string
	}{
		{"an Admin CA certificate with roles", good, []string{"pki_admin", "auditor"}, 0, ""},
		{"an Admin CA certificate without roles", noRoles, nil, 0, ""},
		{"no client certificate", nil, nil, -1, ""},
		{"revoked", revoked, nil, 401, "revoked"},
		{"unknown to the CA", unknown, nil, 401, "no record"},
		{"expired", expired, nil, 401, "outside its validity"},
		{"server auth only", serverOnly, nil, 401, "not valid for client authentication"},
		{"from the Services CA", fromServices, nil, 403, "VCC Services CA"},
		{"from a stranger", fromStranger, nil, 401, "does not chain to the VCC Admin CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/cas", nil)
			if tc.cert != nil {
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{tc.cert.cert}}
			}
			p, err := m.Authenticate(r)
			switch tc.wantStatus {
			case -1:
				if !errors.Is(err, ErrNoCredentials) {
					t.Fatalf("got %v %v", p, err)
				}
			case 0:
				if err != nil {
					t.Fatal(err)
				}
				if p.Method != MethodMTLS || p.Name != tc.cert.cert.Subject.CommonName || p.Subject != tc.cert.cert.Subject.String() ||
					p.Serial != tc.cert.cert.SerialNumber.Text(16) || !slices.Equal(p.Roles, tc.wantRoles) {
					t.Errorf("principal %+v", p)
				}
			default:
				var ae *Error
				if !errors.As(err, &ae) || ae.Status != tc.wantStatus || !strings.Contains(ae.Detail, tc.wantDetail) {
					t.Fatalf("got %v, want %d naming %q", err, tc.wantStatus, tc.wantDetail)
				}
			}
		})
	}
}

func TestRequestClientCerts(t *testing.T) {
	a := mkCert(t, nil, caTmpl("A"))
	b := mkCert(t, nil, caTmpl("B"))
	pool := x509.NewCertPool()
	pool.AddCert(a.cert)
	tc := &tls.Config{ClientAuth: tls.RequestClientCert, ClientCAs: pool}
	RequestClientCerts(tc, b.cert)
	if tc.ClientAuth != tls.RequestClientCert {
		t.Errorf("ClientAuth %v", tc.ClientAuth)
	}
	//lint:ignore SA1019 the subjects are what the server names in its request
	if n := len(tc.ClientCAs.Subjects()); n != 2 {
		t.Errorf("%d acceptable CAs, want 2", n)
	}
	fresh := &tls.Config{}
	RequestClientCerts(fresh, b.cert)
	if fresh.ClientAuth != tls.RequestClientCert || fresh.ClientCAs == nil {
		t.Errorf("fresh config %v %v", fresh.ClientAuth, fresh.ClientCAs)
	}
}
