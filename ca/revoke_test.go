package ca_test

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/internal/testtool"
)

func TestRevocationAndCRL(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	issue := func(name string) *ca.Issued {
		iss, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{name}}), Requester: operator()})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	kept, gone, superseded := issue("a.argus.test"), issue("b.argus.test"), issue("c.argus.test")

	for _, tc := range []struct {
		name   string
		serial *big.Int
		reason ca.RevocationReason
		kind   caerr.Kind // 0 (Internal) means success
	}{
		{"key compromise", gone.Certificate.SerialNumber, ca.KeyCompromise, -1},
		{"superseded", superseded.Certificate.SerialNumber, ca.Superseded, -1},
		{"twice", gone.Certificate.SerialNumber, ca.KeyCompromise, caerr.Conflict},
		{"unknown serial", big.NewInt(12345), ca.Unspecified, caerr.NotFound},
		{"certificateHold is refused", kept.Certificate.SerialNumber, ca.CertificateHold, caerr.BadRevocationReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.engine.Revoke(ctx, tc.serial, tc.reason, operator())
			if tc.kind == -1 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		iss    *ca.Issued
		issuer string
		want   ca.Status
		reason ca.RevocationReason
	}{
		{"good", kept, ca.ServicesCA, ca.Good, 0},
		{"revoked", gone, ca.ServicesCA, ca.Revoked, ca.KeyCompromise},
		{"other issuer is unknown", kept, ca.CodeSigningCA, ca.Unknown, 0},
	} {
		t.Run("status "+tc.name, func(t *testing.T) {
			st, err := f.engine.StatusOf(ctx, tc.issuer, tc.iss.Certificate.SerialNumber)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != tc.want || st.Reason != tc.reason {
				t.Errorf("status = %+v, want %v %v", st, tc.want, tc.reason)
			}
		})
	}

	der, err := f.engine.CRL(ctx, ca.ServicesCA)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	services, _ := f.engine.CACert(ca.ServicesCA)
	if err := crl.CheckSignatureFrom(services); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		reasons[ca.FormatSerial(e.SerialNumber)] = e.ReasonCode
	}
	if len(reasons) != 2 || reasons[gone.Serial] != int(ca.KeyCompromise) || reasons[superseded.Serial] != int(ca.Superseded) {
		t.Errorf("CRL entries = %v", reasons)
	}
	if crl.Number.Int64() != 1 || !crl.NextUpdate.After(crl.ThisUpdate) {
		t.Errorf("CRL number %v, thisUpdate %v, nextUpdate %v", crl.Number, crl.ThisUpdate, crl.NextUpdate)
	}
	again, err := f.engine.CRL(ctx, ca.ServicesCA)
	if err != nil {
		t.Fatal(err)
	}
	if crl2, _ := x509.ParseRevocationList(again); crl2.Number.Int64() != 2 {
		t.Errorf("second CRL number = %v, want 2", crl2.Number)
	}

	// openssl checks the revoked certificate against the CRL, and the good one.
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	root, inter := filepath.Join(dir, "root.pem"), filepath.Join(dir, "services.pem")
	writePEM(t, root, f.engine.Root().Raw)
	writePEM(t, inter, services.Raw)
	crlPath := filepath.Join(dir, "services.crl")
	if err := os.WriteFile(crlPath, der, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, iss := range map[string]*ca.Issued{"good": kept, "revoked": gone} {
		leaf := filepath.Join(dir, name+".pem")
		writePEM(t, leaf, iss.Certificate.Raw)
		out, _ := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crlPath, "-CAfile", root, "-untrusted", inter, leaf).CombinedOutput()
		revoked := strings.Contains(string(out), "certificate revoked")
		if revoked != (name == "revoked") {
			t.Errorf("openssl verify -crl_check of the %s certificate:\n%s", name, out)
		}
	}
}

func TestParseSerialAndReason(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"0x1A2b", "1a2b", true},
		{"1A:2B:3C", "1a2b3c", true},
		{"", "", false},
		{"xyz", "", false},
		{"-5", "", false},
		{strings.Repeat("ff", 21), "", false},
	} {
		n, err := ca.ParseSerial(tc.in)
		if (err == nil) != tc.ok || (tc.ok && ca.FormatSerial(n) != tc.want) {
			t.Errorf("ParseSerial(%q) = %v, %v", tc.in, n, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want ca.RevocationReason
		ok   bool
	}{
		{"keyCompromise", ca.KeyCompromise, true},
		{"key-compromise", ca.KeyCompromise, true},
		{"SUPERSEDED", ca.Superseded, true},
		{"4", ca.Superseded, true},
		{"certificateHold", 0, false},
		{"7", 0, false},
		{"bogus", 0, false},
	} {
		r, err := ca.ParseReason(tc.in)
		if (err == nil) != tc.ok || r != tc.want {
			t.Errorf("ParseReason(%q) = %v, %v", tc.in, r, err)
		}
	}
}
