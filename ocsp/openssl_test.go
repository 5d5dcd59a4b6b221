package ocsp_test

import (
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/internal/testtool"
)

// opensslOCSP runs openssl ocsp against the shared responder for one
// certificate (leaf.pem, or -serial 0x... when leaf starts with 0x) and
// returns its combined output.
func opensslOCSP(t *testing.T, dir, leaf, issuer string, extra ...string) string {
	t.Helper()
	openssl := testtool.Need(t, "openssl")
	which := []string{"-cert", filepath.Join(dir, leaf+".pem")}
	if strings.HasPrefix(leaf, "0x") {
		which = []string{"-serial", leaf}
	}
	args := append([]string{"ocsp", "-issuer", filepath.Join(dir, issuer+".pem")}, which...)
	args = append(args, append([]string{"-url", shared.url + "/ocsp", "-CAfile", filepath.Join(dir, "root.pem"), "-timeout", "10"}, extra...)...)
	out, err := exec.Command(openssl, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestOpenSSLPOST: openssl ocsp, with its nonce and without, reports the
// status, the reason of a revocation, and verifies the signature.
func TestOpenSSLPOST(t *testing.T) {
	s := shared.stack
	dir := s.writeFiles(t, map[string]*x509.Certificate{
		"good": shared.good.Certificate, "revoked": shared.revoked.Certificate, "signing": shared.signing.Certificate,
	})
	for _, tc := range []struct {
		name, leaf, issuer string
		want               []string
	}{
		{"good", "good", "services", []string{"good.pem: good"}},
		{"revoked", "revoked", "services", []string{"revoked.pem: revoked", "Reason: keyCompromise", "Revocation Time:"}},
		{"unknown", "0x7a11e9c0ffee", "services", []string{"0x7a11e9c0ffee: unknown"}},
		{"code signing CA", "signing", "code-signing", []string{"signing.pem: good"}},
	} {
		for _, nonce := range []string{"-nonce", "-no_nonce"} {
			t.Run(tc.name+nonce, func(t *testing.T) {
				out := opensslOCSP(t, dir, tc.leaf, tc.issuer, nonce)
				for _, w := range append(tc.want, "Response verify OK") {
					if !strings.Contains(out, w) {
						t.Errorf("output lacks %q:\n%s", w, out)
					}
				}
				// openssl checks the echoed nonce and warns when it is missing.
				if strings.Contains(out, "WARNING") || strings.Contains(out, "nonce") {
					t.Errorf("nonce trouble:\n%s", out)
				}
			})
		}
	}
}

// TestOpenSSLGET: a request made by openssl, sent as GET with curl, and
// the response checked by openssl ocsp -respin.
func TestOpenSSLGET(t *testing.T) {
	s := shared.stack
	openssl := testtool.Need(t, "openssl")
	curl := testtool.Need(t, "curl")
	dir := s.writeFiles(t, map[string]*x509.Certificate{"good": shared.good.Certificate, "revoked": shared.revoked.Certificate})
	for _, tc := range []struct{ leaf, want string }{
		{"good", "good.pem: good"},
		{"revoked", "revoked.pem: revoked"},
	} {
		t.Run(tc.leaf, func(t *testing.T) {
			reqFile, respFile := filepath.Join(dir, tc.leaf+".req"), filepath.Join(dir, tc.leaf+".resp")
			pair := []string{"-issuer", filepath.Join(dir, "services.pem"), "-cert", filepath.Join(dir, tc.leaf+".pem")}
			if out, err := exec.Command(openssl, append([]string{"ocsp", "-no_nonce", "-reqout", reqFile}, pair...)...).CombinedOutput(); err != nil {
				t.Fatalf("openssl ocsp -reqout: %v\n%s", err, out)
			}
			der, err := os.ReadFile(reqFile)
			if err != nil {
				t.Fatal(err)
			}
			u := shared.url + "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(der))
			if out, err := exec.Command(curl, "-sS", "--fail", "-o", respFile, u).CombinedOutput(); err != nil {
				t.Fatalf("curl %s: %v\n%s", u, err, out)
			}
			out, err := exec.Command(openssl, append([]string{"ocsp", "-respin", respFile, "-CAfile", filepath.Join(dir, "root.pem")}, pair...)...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "Response verify OK") {
				t.Errorf("openssl ocsp -respin: %v\n%s", err, out)
			}
			resp, _ := os.ReadFile(respFile)
			parseResponse(t, resp, nil, s.services)
		})
	}
}

// TestOpenSSLCRL: the CRL served over HTTP, fetched with curl, makes
// openssl verify -crl_check refuse the revoked certificate and accept the
// good one.
func TestOpenSSLCRL(t *testing.T) {
	s := shared.stack
	openssl := testtool.Need(t, "openssl")
	curl := testtool.Need(t, "curl")
	dir := s.writeFiles(t, map[string]*x509.Certificate{"good": shared.good.Certificate, "revoked": shared.revoked.Certificate})
	crlFile := filepath.Join(dir, "services.crl")
	url := shared.good.Certificate.CRLDistributionPoints[0]
	if url != s.url+"/crl/services.crl" {
		t.Fatalf("CRL DP %s", url)
	}
	eventually(t, "the CRL lists the revocation", func() bool {
		if out, err := exec.Command(curl, "-sS", "--fail", "-o", crlFile, url).CombinedOutput(); err != nil {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
		out, _ := exec.Command(openssl, "crl", "-inform", "DER", "-in", crlFile, "-noout", "-text").CombinedOutput()
		return strings.Contains(string(out), strings.ToUpper(shared.revoked.Serial))
	})
	for _, tc := range []struct{ leaf, want string }{
		{"good", "good.pem: OK"},
		{"revoked", "certificate revoked"},
	} {
		out, _ := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", filepath.Join(dir, "root.pem"),
			"-untrusted", filepath.Join(dir, "services.pem"), filepath.Join(dir, tc.leaf+".pem")).CombinedOutput()
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("openssl verify -crl_check %s: want %q:\n%s", tc.leaf, tc.want, out)
		}
	}
	text, _ := exec.Command(openssl, "crl", "-inform", "DER", "-in", crlFile, "-noout", "-text").CombinedOutput()
	for _, w := range []string{"X509v3 CRL Number", "Issuing Distribution Point", "Only User Certificates", "Key Compromise", "Next Update"} {
		if !strings.Contains(string(text), w) {
			t.Errorf("openssl crl -text lacks %q:\n%s", w, text)
		}
	}
}
