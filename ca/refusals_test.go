package ca_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// TestRefusedIssuance: each bad request is refused with its own error kind
// and a message naming the problem, and leaves exactly one audit entry and
// no certificate behind.
func TestRefusedIssuance(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	good := makeCSR(t, csrSpec{dns: []string{"a.argus.test"}})
	badSig := bytes.Clone(good)
	badSig[len(badSig)-5] ^= 0xff
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	oddExt := pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3, 4, 5}, Value: []byte{0x05, 0x00}}
	caExt := pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}
	acme := ca.Requester{Protocol: ca.ProtocolACME, Subject: "https://ca.test/acme/acct/1"}

	for _, tc := range []struct {
		name      string
		profile   string
		csr       []byte
		by        ca.Requester
		validated []ca.Identifier
		kind      caerr.Kind
		message   string
		// asChecked hands the CSR on parsed, as a CheckedCSR that
		// ParseCSR did not make: the engine must verify it all the same.
		asChecked bool
	}{
		{"wrong CSR signature", "argus", badSig, operator(), nil, caerr.BadCSR, "signature does not verify", false},
		{"wrong CSR signature in a CheckedCSR made elsewhere", "argus", badSig, operator(), nil, caerr.BadCSR, "signature does not verify", true},
		{"RSA-1024", "argus", makeCSR(t, csrSpec{key: rsa1024, dns: []string{"a.argus.test"}}), operator(), nil, caerr.BadPublicKey, "1024", false},
		{"identifier outside the profile", "argus", makeCSR(t, csrSpec{dns: []string{"evil.example.com"}}), operator(), nil, caerr.RejectedIdentifier, "evil.example.com", false},
		{"IP outside the profile", "argus", makeCSR(t, csrSpec{ips: []string{"192.0.2.1"}}), operator(), nil, caerr.RejectedIdentifier, "192.0.2.1", false},
		{"wildcard where the profile forbids it", "default", makeCSR(t, csrSpec{dns: []string{"*.example.internal"}}), operator(), nil, caerr.RejectedIdentifier, "wildcard", false},
		{"wildcard two labels deep", "argus", makeCSR(t, csrSpec{dns: []string{"a.b.argus.test"}}), operator(), nil, caerr.RejectedIdentifier, "a.b.argus.test", false},
		{"unknown profile", "nope", good, operator(), nil, caerr.UnknownProfile, `"nope"`, false},
		{"profile not open to the protocol", "vpb", makeCSR(t, csrSpec{dns: []string{"vpb.test"}}), acme, nil, caerr.Unauthorized, "not open to acme", false},
		{"identifier not validated", "argus", makeCSR(t, csrSpec{dns: []string{"a.argus.test", "b.argus.test"}}), acme, []ca.Identifier{{Type: ca.DNS, Value: "a.argus.test"}}, caerr.RejectedIdentifier, "b.argus.test was not validated", false},
		{"extension the profile does not allow", "argus", makeCSR(t, csrSpec{dns: []string{"a.argus.test"}, extra: []pkix.Extension{oddExt}}), operator(), nil, caerr.BadCSR, "1.2.3.4.5", false},
		{"CSR asks to be a CA", "argus", makeCSR(t, csrSpec{dns: []string{"a.argus.test"}, extra: []pkix.Extension{caExt}}), operator(), nil, caerr.BadCSR, "CA", false},
		{"names in a code-signing request", "clara-signing", makeCSR(t, csrSpec{cn: "clara-model", dns: []string{"clara.test"}}), operator(), nil, caerr.RejectedIdentifier, "no DNS or IP names", false},
		{"subject outside the code-signing pattern", "clara-signing", makeCSR(t, csrSpec{cn: "argus-agent"}), operator(), nil, caerr.RejectedIdentifier, "argus-agent", false},
		{"CSR neither DER nor PEM", "argus", []byte("this is not a certificate request"), operator(), nil, caerr.Malformed, "not a DER or PEM", false},
		{"PEM of another type", "argus", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), operator(), nil, caerr.Malformed, "CERTIFICATE", false},
		{"empty CSR", "argus", nil, operator(), nil, caerr.Malformed, "empty", false},
		{"10 MB CSR", "argus", bytes.Repeat([]byte{0x30}, 10<<20), operator(), nil, caerr.Malformed, "limit", false},
		{"no names at all", "argus", makeCSR(t, csrSpec{}), operator(), nil, caerr.BadCSR, "names no DNS name", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certsBefore := countCerts(t, f.store)
			auditBefore := countAudit(t, f.store)
			req := ca.IssueRequest{Profile: tc.profile, CSR: tc.csr, Requester: tc.by, Validated: tc.validated}
			if tc.asChecked {
				parsed, err := x509.ParseCertificateRequest(tc.csr)
				if err != nil {
					t.Fatal(err)
				}
				req.CSR, req.Checked = nil, &ca.CheckedCSR{CertificateRequest: parsed}
			}
			_, err := f.engine.Issue(ctx, req)
			if err == nil {
				t.Fatal("issued; want a refusal")
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error kind = %v, want %v (%v)", caerr.KindOf(err), tc.kind, err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
			if n := countCerts(t, f.store); n != certsBefore {
				t.Errorf("certificates: %d -> %d", certsBefore, n)
			}
			if n := countAudit(t, f.store); n != auditBefore+1 {
				t.Errorf("audit entries: %d -> %d, want one more", auditBefore, n)
			}
		})
	}
	if _, err := store.VerifyAudit(ctx, f.store); err != nil {
		t.Error(err)
	}
}

func countCerts(t *testing.T, st store.Store) int {
	t.Helper()
	cs, err := st.Certificates(context.Background(), store.CertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func countAudit(t *testing.T, st store.Store) int {
	t.Helper()
	n := 0
	if err := st.WalkAudit(context.Background(), func(store.AuditEntry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLintRefusal: a template without its documented lint exemptions
// yields certificates that fail zlint (a .test name is no public TLD);
// the engine refuses them, audits the refusal and records nothing.
func TestLintRefusal(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	dir := t.TempDir()
	files, err := filepath.Glob("../configs/profiles/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(src) == "argus.yaml" {
			b = b[:bytes.Index(b, []byte("lint_ignore:"))]
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := reopenWithProfiles(t, f, testConfig(), ca.Options{}, dir)
	auditBefore := countAudit(t, f.store)
	// Twice: the second check runs on lint instances the first one used
	// (lintSet.ready) and must refuse just the same.
	for attempt := range 2 {
		_, err = e.Issue(context.Background(), ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{"a.argus.test"}}), Requester: operator()})
		if !errors.Is(err, caerr.LintFailed) || !strings.Contains(err.Error(), "e_dnsname_not_valid_tld") {
			t.Fatalf("attempt %d: err = %v, want a lint refusal naming e_dnsname_not_valid_tld", attempt, err)
		}
	}
	if n := countCerts(t, f.store); n != 0 {
		t.Errorf("%d certificates recorded", n)
	}
	var last store.AuditEntry
	f.store.WalkAudit(context.Background(), func(e store.AuditEntry) error { last = e; return nil })
	if countAudit(t, f.store) != auditBefore+2 || last.Action != "issue.refused" || !strings.Contains(last.Result, "e_dnsname_not_valid_tld") {
		t.Errorf("last audit entry = %+v", last)
	}
}

// TestCSRUsagesIgnored: key usages and extended key usages a CSR asks for
// are neither refused nor copied; the profile decides (clients change
// their defaults). A malformed one is still a bad CSR.
func TestCSRUsagesIgnored(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	emailEKU, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 4}})
	certSignKU, _ := asn1.Marshal(asn1.BitString{Bytes: []byte{0x04}, BitLength: 6})
	csr := makeCSR(t, csrSpec{dns: []string{"u.argus.test"}, extra: []pkix.Extension{
		{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: emailEKU},
		{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: certSignKU},
	}})
	iss, err := f.engine.Issue(context.Background(), ca.IssueRequest{Profile: "argus", CSR: csr, Requester: operator()})
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Certificate
	if c.KeyUsage != x509.KeyUsageDigitalSignature || len(c.ExtKeyUsage) != 2 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("usages copied from the CSR: KU %v EKU %v", c.KeyUsage, c.ExtKeyUsage)
	}
	bad := makeCSR(t, csrSpec{dns: []string{"u.argus.test"}, extra: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: []byte{0x04, 0x00}}}})
	if _, err := f.engine.Issue(context.Background(), ca.IssueRequest{Profile: "argus", CSR: bad, Requester: operator()}); !errors.Is(err, caerr.BadCSR) {
		t.Errorf("malformed EKU: %v", err)
	}
}
