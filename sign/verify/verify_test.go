package verify_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/sign/verify"
)

// writeModel makes a small model directory.
func writeModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "adapter")
	for name, body := range map[string]string{"config.json": `{"r":8}`, "weights/a.safetensors": "AAAA", "weights/b.safetensors": "BBBB"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSignAndVerify(t *testing.T) {
	p := newPKI(t)
	foreign := newPKI(t)
	ctx := context.Background()
	policy := &verify.Policy{Roots: []*x509.Certificate{p.engine.Root()}, Identity: "clara-*"}

	good := p.signer(t, p.engine, "clara-signing", "clara-ci", "/tsa")
	expiredStamped := p.signer(t, p.past, "clara-signing", "clara-old", "/tsa-past") // stamped while valid
	expiredLate := p.signer(t, p.past, "clara-signing", "clara-old2", "/tsa")        // stamped now, after expiry
	services := p.signer(t, p.engine, "clara", "clara.test", "/tsa")
	wrongName := p.signer(t, p.engine, "clara-signing", "clara-x", "/tsa")
	foreignTSA := p.signer(t, p.engine, "clara-signing", "clara-f", "/tsa")
	foreignTSA.TSA = foreign.url + "/tsa"
	foreignSigner := foreign.signer(t, foreign.engine, "clara-signing", "clara-foreign", "/tsa")
	foreignSigner.TSA = p.url + "/tsa"
	revokedBefore := p.signer(t, p.engine, "clara-signing", "clara-rb", "/tsa")
	revokedAfter := p.signer(t, p.engine, "clara-signing", "clara-ra", "/tsa")
	compromised := p.signer(t, p.engine, "clara-signing", "clara-kc", "/tsa")
	revoke := func(e *ca.Engine, s *sign.Signer, reason ca.RevocationReason) {
		if err := e.Revoke(ctx, s.Cert.SerialNumber, reason, ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	revoke(p.engine, revokedBefore, ca.Superseded)

	type mutation func(t *testing.T, dir string)
	cases := []struct {
		name     string
		signer   *sign.Signer
		identity string
		mutate   mutation
		after    func() // after signing
		want     verify.Kind
		ok       bool
	}{
		{name: "good", signer: good, ok: true},
		{name: "one byte changed", signer: good, mutate: func(t *testing.T, d string) { write(t, d, "weights/a.safetensors", "AAAB") }, want: verify.ContentChanged},
		{name: "file added", signer: good, mutate: func(t *testing.T, d string) { write(t, d, "extra.bin", "x") }, want: verify.FileAdded},
		{name: "file removed", signer: good, mutate: func(t *testing.T, d string) { os.Remove(filepath.Join(d, "config.json")) }, want: verify.FileRemoved},
		{name: "Services CA certificate", signer: services, identity: "clara*", want: verify.NotCodeSigning},
		{name: "identity by URI SAN", signer: good, identity: "urn:vcc:signer:clara-signing:clara-*", ok: true},
		{name: "identity mismatch", signer: wrongName, identity: "clara-ci", want: verify.IdentityMismatch},
		{name: "expired signer, time-stamp inside its validity", signer: expiredStamped, ok: true},
		{name: "expired signer, time-stamp after it", signer: expiredLate, want: verify.OutsideValidity},
		{name: "signer of another PKI", signer: foreignSigner, want: verify.UntrustedChain},
		{name: "foreign TSA", signer: foreignTSA, want: verify.BadTimestamp},
		{name: "revoked before signing", signer: revokedBefore, want: verify.Revoked},
		{name: "revoked after signing, superseded", signer: revokedAfter, after: func() { revoke(p.later, revokedAfter, ca.Superseded) }, ok: true},
		{name: "revoked after signing, keyCompromise", signer: compromised, after: func() { revoke(p.later, compromised, ca.KeyCompromise) }, want: verify.Revoked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeModel(t)
			file := filepath.Join(dir, "config.json")
			model, err := tc.signer.SignModel(ctx, dir, sign.ManifestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			blob, err := tc.signer.SignBlob(ctx, file)
			if err != nil {
				t.Fatal(err)
			}
			cms, err := tc.signer.SignCMS(ctx, file)
			if err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				tc.after()
			}
			pol := *policy
			if tc.identity != "" {
				pol.Identity = tc.identity
			}
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			check := func(what string, res *verify.Result, err error, fileLevel bool) {
				t.Helper()
				want, ok := tc.want, tc.ok
				if fileLevel && (want == verify.FileAdded || want == verify.FileRemoved) {
					// config.json itself is unchanged, or gone.
					if want == verify.FileAdded {
						ok = true
					}
				}
				if ok {
					if err != nil {
						t.Fatalf("%s: refused: %v", what, err)
					}
					if res.Signer.Subject.CommonName != tc.signer.Cert.Subject.CommonName {
						t.Fatalf("%s: signer %s", what, res.Signer.Subject)
					}
					return
				}
				if err == nil {
					t.Fatalf("%s: accepted, want %s", what, want)
				}
				k, isFailure := verify.KindOf(err)
				if want == verify.FileRemoved && fileLevel {
					if !os.IsNotExist(err) {
						t.Fatalf("%s: %v, want a missing file", what, err)
					}
					return
				}
				if !isFailure || k != want {
					t.Fatalf("%s: %v (kind %v), want %s", what, err, k, want)
				}
			}
			res, err := pol.VerifyModel(ctx, dir, model)
			check("model", res, err, false)
			if tc.want == verify.ContentChanged {
				file = filepath.Join(dir, "weights/a.safetensors")
				blob, _ = tc.signer.SignBlob(ctx, filepath.Join(writeModel(t), "weights/a.safetensors"))
				cms, _ = tc.signer.SignCMS(ctx, filepath.Join(writeModel(t), "weights/a.safetensors"))
			}
			res, err = pol.VerifyFile(ctx, file, blob)
			check("blob bundle", res, err, true)
			if tc.signer == expiredStamped {
				// The CMS signingTime attribute comes from the signing
				// process's clock (now), after this certificate expired;
				// digitorus/pkcs7 checks it against the validity. The CMS
				// form of this case signs now with a certificate that
				// expires soon and verifies later: TestExpiredCMSSigner.
				return
			}
			res, err = pol.VerifyFile(ctx, file, cms)
			check("cms", res, err, true)
		})
	}
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOMSLayout checks the statement as model_signing lays it out.
func TestOMSLayout(t *testing.T) {
	p := newPKI(t)
	s := p.signer(t, p.engine, "clara-signing", "clara-ci", "/tsa")
	dir := writeModel(t)
	b, err := s.SignModel(context.Background(), dir, sign.ManifestOptions{Ignore: []string{".git"}})
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		MediaType            string
		VerificationMaterial struct {
			X509CertificateChain      struct{ Certificates []struct{ RawBytes []byte } }
			TimestampVerificationData struct {
				Rfc3161Timestamps []struct{ SignedTimestamp []byte }
			}
		}
		DsseEnvelope struct {
			Payload     []byte
			PayloadType string
		}
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	vm := bundle.VerificationMaterial
	for name, ok := range map[string]bool{
		"media type v0.3":          bundle.MediaType == sign.BundleMediaType,
		"chain: leaf and issuer":   len(vm.X509CertificateChain.Certificates) == 2,
		"one RFC 3161 time-stamp":  len(vm.TimestampVerificationData.Rfc3161Timestamps) == 1,
		"in-toto payload type":     bundle.DsseEnvelope.PayloadType == sign.InTotoPayloadType,
		"predicate type":           bytes.Contains(bundle.DsseEnvelope.Payload, []byte(`"predicateType":"https://model_signing/signature/v1.0"`)),
		"files serialization":      bytes.Contains(bundle.DsseEnvelope.Payload, []byte(`"serialization":{"method":"files","hash_type":"sha256","allow_symlinks":false,"ignore_paths":[".git"]}`)),
		"subject is the dir name":  bytes.Contains(bundle.DsseEnvelope.Payload, []byte(`"subject":[{"name":"adapter"`)),
		"resources sorted by name": strings.Index(string(bundle.DsseEnvelope.Payload), "config.json") < strings.Index(string(bundle.DsseEnvelope.Payload), "weights/a"),
	} {
		if !ok {
			t.Errorf("%s: no; payload %s", name, bundle.DsseEnvelope.Payload)
		}
	}
}

// TestTampered: a changed statement, a stripped time-stamp and garbage
// each have their own refusal.
func TestTampered(t *testing.T) {
	p := newPKI(t)
	ctx := context.Background()
	s := p.signer(t, p.engine, "clara-signing", "clara-ci", "/tsa")
	policy := &verify.Policy{Roots: []*x509.Certificate{p.engine.Root()}, Identity: "clara-*"}
	dir := writeModel(t)
	model, err := s.SignModel(ctx, dir, sign.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b map[string]any)) []byte {
		var b map[string]any
		if err := json.Unmarshal(model, &b); err != nil {
			t.Fatal(err)
		}
		f(b)
		out, _ := json.Marshal(b)
		return out
	}
	// Another weight file, with its digest in the statement: the
	// statement no longer matches the signature.
	write(t, dir, "weights/a.safetensors", "EVIL")
	evil, err := sign.BuildManifest(dir, sign.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := json.Marshal(sign.NewStatement("adapter", evil))
	cases := []struct {
		name string
		sig  []byte
		want verify.Kind
	}{
		{"statement replaced", edit(func(b map[string]any) { b["dsseEnvelope"].(map[string]any)["payload"] = forged }), verify.BadSignature},
		{"time-stamp stripped", edit(func(b map[string]any) {
			delete(b["verificationMaterial"].(map[string]any), "timestampVerificationData")
		}), verify.NoTimestamp},
		{"not a bundle", []byte("{\"mediaType\": 1}"), verify.Malformed},
		{"not CMS either", []byte("garbage"), verify.Malformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.name == "not CMS either" {
				_, err = policy.VerifyFile(ctx, filepath.Join(dir, "config.json"), tc.sig)
			} else {
				_, err = policy.VerifyModel(ctx, dir, tc.sig)
			}
			if k, ok := verify.KindOf(err); !ok || k != tc.want {
				t.Fatalf("%v (kind %v), want %s", err, k, tc.want)
			}
		})
	}
}
