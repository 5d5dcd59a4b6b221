package est

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/testpki"
	"github.com/vcc/vccpki/store"
)

// TestCertificateBounds is issue 13 item 1: a TLS client certificate
// authenticates only at the profile that issued it and enrols only for
// the names it carries, unless an operator granted more; a bootstrap
// certificate enrols only for the names its device identity gives. Each
// refusal is a 403 naming what is outside and how to get it, and issues
// nothing.
func TestCertificateBounds(t *testing.T) {
	ctx := context.Background()
	// An ACME certificate for 127.0.0.1 from profile default: any ACME
	// account can get one.
	acmeKey := newKey(t)
	issued, err := env.engine.Issue(ctx, ca.IssueRequest{Profile: "default", CSR: newCSRFrom(t, &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, acmeKey).Raw,
		Requester: ca.Requester{Protocol: ca.ProtocolACME, Subject: "https://ca.test/acme/acct/1"}})
	if err != nil {
		t.Fatal(err)
	}
	acmeCert := issued.Certificate
	argusCert, argusKey := enrolled(t, "argus", "argus-agent", "agent2.argus.test")
	vpbCert, vpbKey := enrolled(t, "vpb", "vpb-device", "dev1.vpb.test")
	grantedCert, grantedKey := enrolled(t, "vpb", "vpb-device", "dev2.vpb.test")
	grantedSerial := ca.FormatSerial(grantedCert.SerialNumber)
	grant := store.ESTGrant{Profile: "vpb", Serial: grantedSerial, Names: []string{"dev2-backup.vpb.test"}, Actor: "operator:test", CreatedAt: time.Now()}
	if err := env.store.PutESTGrant(ctx, grant, store.AuditEvent{Time: time.Now(), Actor: "operator:test", Action: "est.grant", Object: "vpb " + grantedSerial, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	devKey := newKey(t)
	devCert := testpki.IssueFrom(t, env.bootCA, env.bootKey, "vpb-device-0003", devKey.Public())
	dottedDev := testpki.IssueFrom(t, env.bootCA, env.bootKey, "x.vpb.test", devKey.Public())
	csr := func(names ...string) []byte { return b64(newCSR(t, newKey(t), "", names...).Raw) }
	ipCSR := b64(newCSRFrom(t, &x509.CertificateRequest{Subject: pkix.Name{}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, newKey(t)).Raw)

	const enroll, vpb = "/.well-known/est/simpleenroll", "/.well-known/est/vpb/"
	tests := []struct {
		name   string
		req    estRequest
		status int
		msgs   []string
	}{
		{"13.1 ACME certificate enrols other names at default",
			estRequest{path: enroll, cert: acmeCert, key: acmeKey, body: csr("victim.example.internal", "localhost", "payments.test")}, 403,
			[]string{"victim.example.internal, localhost, payments.test", "does not carry", "vccpki est grant --profile default --serial " + ca.FormatSerial(acmeCert.SerialNumber)}},
		{"13.1 ACME certificate on serverkeygen for other names",
			estRequest{path: "/.well-known/est/serverkeygen", cert: acmeCert, key: acmeKey, body: csr("victim.example.internal")}, 403,
			[]string{"victim.example.internal", "vccpki est grant"}},
		{"13.1 certificate of another profile at default",
			estRequest{path: enroll, cert: argusCert, key: argusKey, body: csr("agent2.argus.test")}, 403,
			[]string{"issued from profile argus, not default", "only at /.well-known/est/argus/"}},
		{"13.1 vpb device certificate asks for the wildcard",
			estRequest{path: vpb + "simpleenroll", cert: vpbCert, key: vpbKey, body: csr("*.vpb.test")}, 403,
			[]string{"*.vpb.test", "does not carry", "renews only its own names: dev1.vpb.test"}},
		{"13.1 vpb device certificate adds a name to its own",
			estRequest{path: vpb + "simpleenroll", cert: vpbCert, key: vpbKey, body: csr("dev1.vpb.test", "dev9.vpb.test")}, 403,
			[]string{"asks for dev9.vpb.test,"}},
		{"13.1 a grant widens only by its names",
			estRequest{path: vpb + "simpleenroll", cert: grantedCert, key: grantedKey, body: csr("dev2.vpb.test", "dev3.vpb.test")}, 403,
			[]string{"asks for dev3.vpb.test,", "dev2-backup.vpb.test"}},
		{"13.1 a grant for vpb does not open default",
			estRequest{path: enroll, cert: grantedCert, key: grantedKey, body: csr("dev2-backup.vpb.test")}, 403,
			[]string{"issued from profile vpb, not default"}},
		{"13.1 bootstrap device asks for another device's name",
			estRequest{path: vpb + "simpleenroll", cert: devCert, key: devKey, body: csr("vpb-device-0004.vpb.test")}, 403,
			[]string{"vpb-device-0004.vpb.test", "may enrol for (vpb-device-0003.vpb.test)"}},
		{"13.1 bootstrap device asks for the wildcard",
			estRequest{path: vpb + "serverkeygen", cert: devCert, key: devKey, body: csr("*.vpb.test")}, 403,
			[]string{"*.vpb.test", "est.bootstrap names"}},
		{"13.1 bootstrap identity that is not one DNS label",
			estRequest{path: vpb + "simpleenroll", cert: dottedDev, key: devKey, body: csr("x.vpb.test.vpb.test")}, 403,
			[]string{`commonName "x.vpb.test" is not a device identity`}},
	}
	before := certCount(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := tc.req.do(t)
			if status != tc.status {
				t.Errorf("got %d %q; want %d", status, body, tc.status)
			}
			for _, m := range tc.msgs {
				if !strings.Contains(body, m) {
					t.Errorf("reply %q lacks %q", body, m)
				}
			}
		})
	}
	if after := certCount(t); after != before {
		t.Errorf("refused requests issued %d certificates", after-before)
	}

	// What each may do: renew its own names, the granted ones, the
	// device's own.
	for _, tc := range []struct {
		name string
		req  estRequest
	}{
		{"ACME certificate renews its own address", estRequest{path: enroll, cert: acmeCert, key: acmeKey, body: ipCSR}},
		{"vpb certificate renews its own name", estRequest{path: vpb + "simpleenroll", cert: vpbCert, key: vpbKey, body: csr("dev1.vpb.test")}},
		{"granted names", estRequest{path: vpb + "simpleenroll", cert: grantedCert, key: grantedKey, body: csr("dev2.vpb.test", "dev2-backup.vpb.test")}},
		{"bootstrap device's own name", estRequest{path: vpb + "simpleenroll", cert: devCert, key: devKey, body: csr("vpb-device-0003.vpb.test")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body, _ := tc.req.do(t); status != http.StatusOK {
				t.Errorf("got %d %q; want 200", status, body)
			}
		})
	}
}
