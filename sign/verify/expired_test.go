package verify_test

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"

	"github.com/vcc/vccpki/sign/verify"
)

// TestExpiredCMSSigner: a CMS .p7s whose signer certificate has expired
// by the time it is verified. digitorus/pkcs7 writes the signingTime
// attribute from the signing process's clock, so the signer signs now
// with a certificate that expires endingIn from now, and the verifier's
// clock is set past that. Time-stamped inside the validity it is
// accepted (exit 0); without a time-stamp it is refused (exit 14); with a
// time-stamp after the expiry, refused (exit 16); each with the README's
// message.
func TestExpiredCMSSigner(t *testing.T) {
	p := newPKI(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "adapter.bin")
	if err := os.WriteFile(file, []byte("lora adapter weights"), 0o600); err != nil {
		t.Fatal(err)
	}
	stamped := p.signer(t, p.ending, "clara-signing", "clara-ending", "/tsa")     // stamped now: inside the validity
	late := p.signer(t, p.ending, "clara-signing", "clara-ending2", "/tsa-later") // stamped an hour on: after it
	unstamped := p.signer(t, p.ending, "clara-signing", "clara-ending3", "/tsa")
	if left := time.Until(stamped.Cert.NotAfter); left <= 0 || left > endingIn {
		t.Fatalf("the signer certificate expires %s from now, want within %s", left, endingIn)
	}
	verifyAt := stamped.Cert.NotAfter.Add(time.Hour)
	pol := &verify.Policy{Roots: []*x509.Certificate{p.engine.Root()}, Identity: "clara-*",
		Revocation: verify.Online{Now: func() time.Time { return verifyAt }}}

	sign := func(t *testing.T, s interface {
		SignCMS(context.Context, string) ([]byte, error)
	}) []byte {
		t.Helper()
		sig, err := s.SignCMS(ctx, file)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	// noStamp is a CMS signature like SignCMS's but without the
	// signature-time-stamp attribute.
	noStamp := func(t *testing.T) []byte {
		t.Helper()
		data, _ := os.ReadFile(file)
		sd, err := pkcs7.NewSignedData(data)
		if err != nil {
			t.Fatal(err)
		}
		sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
		if err := sd.AddSignerChain(unstamped.Cert, unstamped.Key, unstamped.Chain, pkcs7.SignerInfoConfig{}); err != nil {
			t.Fatal(err)
		}
		sd.Detach()
		sig, err := sd.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	validity := func(c *x509.Certificate) string {
		return regexp.QuoteMeta(c.NotBefore.UTC().Format(time.RFC3339) + " to " + c.NotAfter.UTC().Format(time.RFC3339))
	}
	cases := []struct {
		name string
		sig  func(t *testing.T) []byte
		exit int
		want string // the refusal's whole message, a regular expression
	}{
		{"time-stamp inside the validity", func(t *testing.T) []byte { return sign(t, stamped) }, 0, ""},
		{"no time-stamp", noStamp, 14, regexp.QuoteMeta("the CMS signature has no signature-time-stamp attribute (id-aa-timeStampToken)")},
		{"time-stamp after the expiry", func(t *testing.T) []byte { return sign(t, late) }, 16,
			`the time-stamp \((\S+)\) lies outside the signer certificate's validity \(` + validity(late.Cert) + `\)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := pol.VerifyFile(ctx, file, tc.sig(t))
			if tc.exit == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if res.Format != "cms" || !res.Time.Before(res.Signer.NotAfter) || !verifyAt.After(res.Signer.NotAfter) {
					t.Errorf("result %+v: want a CMS time-stamped before the signer's expiry, verified after it", res)
				}
				return
			}
			k, ok := verify.KindOf(err)
			if !ok || k.ExitCode() != tc.exit {
				t.Fatalf("%v (kind %v), want exit %d", err, k, tc.exit)
			}
			m := regexp.MustCompile("^" + tc.want + "$").FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("message %q\nwant    %s", err.Error(), tc.want)
			}
			if len(m) > 1 {
				if at, err := time.Parse(time.RFC3339, m[1]); err != nil || !at.After(late.Cert.NotAfter) {
					t.Errorf("the time-stamp %s is not after the expiry %s", m[1], late.Cert.NotAfter)
				}
			}
		})
	}
}
