// Package signing_test drives `vccpki sign` and `vccpki verify` of the
// real binary against a running server (its TSA, OCSP and CRLs), and has
// verifiers no one here wrote check the results: cosign, sigstore-go,
// openssl cms, openssl ts and sha256sum.
package signing_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/vcc/vccpki/conformance/harness"
	"github.com/vcc/vccpki/sign"
)

// env is a running server and the files every case shares.
type env struct {
	cfg, root, tsa, dir string
}

// signer is a key and its certificate from the clara-signing profile,
// issued by `vccpki issue`.
type signer struct {
	key, cert string
	leaf      *x509.Certificate
	chain     []*x509.Certificate // issuing CA
}

func (e *env) enrol(t *testing.T, cn string) signer {
	t.Helper()
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	s := signer{key: filepath.Join(dir, "key.pem"), cert: filepath.Join(dir, "cert.pem")}
	os.WriteFile(s.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, k)
	csrPath := filepath.Join(dir, "req.csr")
	os.WriteFile(csrPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), 0o600)
	out, errOut, code := harness.Run(t, "issue", "--config", e.cfg, "--profile", "clara-signing", "--csr", csrPath)
	if code != 0 {
		t.Fatalf("vccpki issue: %d %s", code, errOut)
	}
	os.WriteFile(s.cert, []byte(out), 0o644)
	certs := harness.ParsePEMCerts(t, out)
	s.leaf, s.chain = certs[0], certs[1:]
	return s
}

// trustedRoot has cosign write the trusted root that cosign and
// sigstore-go read: the Code Signing CA chain and the TSA's chain (its
// certificate, from a token).
func (e *env) trustedRoot(t *testing.T, cosign string, codeSigning []*x509.Certificate) string {
	t.Helper()
	rootPEM, _ := os.ReadFile(e.root)
	fulcioChain := filepath.Join(e.dir, "codesigning-chain.pem")
	writeCerts(t, fulcioChain, codeSigning, rootPEM)
	tsaChain := filepath.Join(e.dir, "tsa-chain.pem")
	writeCerts(t, tsaChain, tsaCerts(t, e.tsa), rootPEM)
	tr := filepath.Join(e.dir, "tr.json")
	if out, err := exec.Command(cosign, "trusted-root", "create", "--no-default-fulcio", "--no-default-rekor", "--no-default-ctfe", "--no-default-tsa",
		"--fulcio", "url=https://vccpki.invalid,certificate-chain="+fulcioChain,
		"--tsa", "url="+e.tsa+",certificate-chain="+tsaChain, "--out", tr).CombinedOutput(); err != nil {
		t.Fatalf("cosign trusted-root create: %v\n%s", err, out)
	}
	return tr
}

func (e *env) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, errOut, code := harness.Run(t, args...)
	return out + errOut, code
}

func (e *env) signArgs(s signer) []string {
	return []string{"--key", s.key, "--cert", s.cert, "--tsa", e.tsa}
}

func writeModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clara-lora")
	for name, body := range map[string]string{"adapter_config.json": `{"r": 16}`, "adapter_model.safetensors": strings.Repeat("w", 4096), "tokenizer/vocab.txt": "a\nb\n"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	return dir
}

func TestSigning(t *testing.T) {
	openssl := harness.Tool(t, "openssl")
	sha256sum := harness.Tool(t, "sha256sum")
	cosign := harness.GoTool(t, "github.com/sigstore/cosign/v3/cmd/cosign")
	t.Parallel()
	cfg, data := harness.Config(t, "")
	srv := harness.StartServer(t, cfg)
	e := &env{cfg: cfg, root: filepath.Join(data, "root.pem"), tsa: srv.HTTPURL + "/tsa", dir: t.TempDir()}
	dev := e.enrol(t, "clara-ci")

	tr := e.trustedRoot(t, cosign, dev.chain)
	fulcioChain := filepath.Join(e.dir, "codesigning-chain.pem") // written by trustedRoot

	t.Run("model", func(t *testing.T) {
		dir := writeModel(t)
		sig := filepath.Join(dir, "model.sig")
		if out, code := e.run(t, append([]string{"sign", "model", dir, "--out", sig}, e.signArgs(dev)...)...); code != 0 {
			t.Fatalf("sign model: %d %s", code, out)
		}
		if out, code := e.run(t, "verify", "model", dir, "--signature", sig, "--root", e.root, "--identity", "clara-*"); code != 0 {
			t.Fatalf("verify model: %d %s", code, out)
		}
		// sigstore-go, with the trusted root cosign wrote.
		trusted, err := root.NewTrustedRootFromPath(tr)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bundle.LoadJSONFromPath(sig, bundle.AllowCertificateChain())
		if err != nil {
			t.Fatal(err)
		}
		v, err := sgverify.NewVerifier(trusted, sgverify.WithSignedTimestamps(1))
		if err != nil {
			t.Fatal(err)
		}
		id, err := sgverify.NewShortCertificateIdentity("", ".*", "urn:vcc:signer:clara-signing:clara-ci", "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(b, sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithCertificateIdentity(id)))
		if err != nil {
			t.Fatalf("sigstore-go: %v", err)
		}
		if res.Statement.GetPredicateType() != sign.ModelPredicateType {
			t.Fatalf("predicate type %s", res.Statement.GetPredicateType())
		}
		// The manifest, as sha256sum reads it.
		sums := filepath.Join(e.dir, "SHA256SUMS")
		out, code := e.run(t, "sign", "manifest", dir, "--ignore", "model.sig")
		if code != 0 {
			t.Fatalf("sign manifest: %d %s", code, out)
		}
		os.WriteFile(sums, []byte(out), 0o644)
		cmd := exec.Command(sha256sum, "-c", "--strict", sums)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 3 {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
		// Refusals: each with its own exit status.
		os.WriteFile(filepath.Join(dir, "tokenizer/vocab.txt"), []byte("a\nc\n"), 0o644)
		if out, code := e.run(t, "verify", "model", dir, "--signature", sig, "--root", e.root, "--identity", "clara-*"); code != 20 {
			t.Fatalf("one byte changed: %d %s", code, out)
		}
	})

	t.Run("file bundle and CMS", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "covina-worker.tar")
		os.WriteFile(file, []byte("a Covina worker module"), 0o644)
		for _, f := range []string{"bundle", "cms"} {
			if out, code := e.run(t, append([]string{"sign", "file", file, "--format", f}, e.signArgs(dev)...)...); code != 0 {
				t.Fatalf("sign file --format %s: %d %s", f, code, out)
			}
		}
		for _, s := range []string{file + ".sigstore.json", file + ".p7s"} {
			if out, code := e.run(t, "verify", "file", file, "--signature", s, "--root", e.root, "--identity", "clara-*"); code != 0 {
				t.Fatalf("verify file %s: %d %s", s, code, out)
			}
		}
		out, err := exec.Command(cosign, "verify-blob", file, "--bundle", file+".sigstore.json", "--trusted-root", tr,
			"--certificate-identity", "urn:vcc:signer:clara-signing:clara-ci", "--certificate-oidc-issuer-regexp", ".*",
			"--insecure-ignore-tlog", "--insecure-ignore-sct", "--use-signed-timestamps", "--allow-certificate-chain").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Fatalf("cosign verify-blob: %v\n%s", err, out)
		}
		// openssl 3.0 has no codesign purpose (3.2 added it); "any" and
		// the EKU check of vccpki verify stand in.
		out, err = exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", file+".p7s", "-content", file,
			"-CAfile", e.root, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification successful") {
			t.Fatalf("openssl cms -verify: %v\n%s", err, out)
		}
		// The embedded token, by openssl ts.
		p7s, _ := os.ReadFile(file + ".p7s")
		p7, err := pkcs7.Parse(p7s)
		if err != nil {
			t.Fatal(err)
		}
		var token []byte
		for _, a := range p7.Signers[0].UnauthenticatedAttributes {
			if a.Type.Equal(sign.OIDTimeStampToken) {
				token = a.Value.Bytes
			}
		}
		tok := filepath.Join(e.dir, "token.der")
		os.WriteFile(tok, token, 0o644)
		imprint := sha256.Sum256(p7.Signers[0].EncryptedDigest)
		out, err = exec.Command(openssl, "ts", "-verify", "-token_in", "-in", tok, "-digest", hex.EncodeToString(imprint[:]), "-CAfile", e.root).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification: OK") {
			t.Fatalf("openssl ts -verify: %v\n%s", err, out)
		}
	})

	t.Run("revocation", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "pipeline.yaml")
		os.WriteFile(file, []byte("steps: []"), 0o644)
		verify := func(s string) (string, int) {
			return e.run(t, "verify", "file", file, "--signature", s, "--root", e.root, "--identity", "clara-*")
		}
		signAs := func(s signer) string {
			if out, code := e.run(t, append([]string{"sign", "file", file, "--format", "bundle"}, e.signArgs(s)...)...); code != 0 {
				t.Fatalf("sign: %d %s", code, out)
			}
			p := file + "." + s.leaf.SerialNumber.Text(16) + ".json"
			os.Rename(file+".sigstore.json", p)
			return p
		}
		revoke := func(s signer, reason string) {
			if out, code := e.run(t, "revoke", "--config", e.cfg, "--serial", s.leaf.SerialNumber.Text(16), "--reason", reason); code != 0 {
				t.Fatalf("revoke: %d %s", code, out)
			}
		}
		before, after := e.enrol(t, "clara-before"), e.enrol(t, "clara-after")
		revoke(before, "superseded")
		sigBefore := signAs(before)
		sigAfter := signAs(after)
		// Revocation times have whole seconds: revoke in a later second
		// than the time-stamp, so that "after" is unambiguous.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
		revoke(after, "superseded")
		harness.Eventually(t, 30*time.Second, "the revocation before signing refuses (exit 17)", func() bool {
			_, code := verify(sigBefore)
			return code == 17
		})
		// Once the responder knows of the later revocation too, the
		// signature made before it still verifies.
		harness.Eventually(t, 30*time.Second, "OCSP reports the later revocation", func() bool {
			out, _ := exec.Command(openssl, "ocsp", "-issuer", fulcioChain, "-cert", after.cert, "-url", srv.HTTPURL+"/ocsp", "-CAfile", e.root, "-no_nonce").CombinedOutput()
			return strings.Contains(string(out), ": revoked")
		})
		if out, code := verify(sigAfter); code != 0 {
			t.Fatalf("revoked after signing (superseded): %d %s", code, out)
		}
	})
}

// tsaCerts asks the TSA for a token with its certificate and returns
// the certificates it carries (the TSA's first).
func tsaCerts(t *testing.T, url string) []*x509.Certificate {
	t.Helper()
	sum := sha256.Sum256([]byte("x"))
	q, _ := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: sum[:], Certificates: true}).Marshal()
	resp, err := http.Post(url, "application/timestamp-query", bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	ts, err := timestamp.ParseResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	certs := ts.Certificates
	slices.SortStableFunc(certs, func(a, b *x509.Certificate) int {
		switch {
		case !a.IsCA && b.IsCA:
			return -1
		case a.IsCA && !b.IsCA:
			return 1
		}
		return 0
	})
	return certs
}

func writeCerts(t *testing.T, path string, certs []*x509.Certificate, tail []byte) {
	t.Helper()
	var b []byte
	for _, c := range certs {
		if c.CheckSignatureFrom(c) == nil {
			continue // the root comes from root.pem
		}
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(path, append(b, tail...), 0o644); err != nil {
		t.Fatal(err)
	}
}
