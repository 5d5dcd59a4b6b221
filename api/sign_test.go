package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/sign/verify"
	"github.com/vcc/vccpki/store"
)

// engineStatus is the revocation check of signatures in these tests: the
// engine's own status of the signer (what its OCSP responder answers).
type engineStatus struct{}

func (engineStatus) Check(ctx context.Context, leaf, issuer *x509.Certificate, at time.Time) error {
	st, err := testEngine.StatusOf(ctx, ca.CodeSigningCA, leaf.SerialNumber)
	if err != nil {
		return err
	}
	if st.Status != ca.Good {
		return fmt.Errorf("signer %s is %v", ca.FormatSerial(leaf.SerialNumber), st.Status)
	}
	return nil
}

func testVerifier(identity string) *verify.Policy {
	return &verify.Policy{Roots: []*x509.Certificate{testEngine.Root()}, Identity: identity, Revocation: engineStatus{}}
}

func randomDigest() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// signRequest is a digest to sign in the clara-signing profile.
func signRequest() SignRequest {
	return SignRequest{Profile: "clara-signing", ArtifactType: "manifest", Name: "ci-" + uniq(), Digest: randomDigest()}
}

// clientBundle is a signature made with a developer's key (a certificate
// of clara-signing issued by the operator), as vccpki sign writes it.
func clientBundle(t *testing.T) json.RawMessage {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "clara-dev-" + uniq()}}, k)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := testEngine.Issue(context.Background(), ca.IssueRequest{Profile: "clara-signing", CSR: csr, Requester: ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &sign.Signer{Key: k, Cert: issued.Certificate, Chain: issued.Chain, Stamper: &sign.EngineTimestamper{Engine: testEngine, Policy: testPolicy}}
	d, _ := hex.DecodeString(randomDigest())
	b, err := s.SignDigest(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// registered registers a client signature and returns its ID.
func registered(t *testing.T) string {
	t.Helper()
	r := newClient(t, testSrv).do(signer, "POST", "/signatures", RegisterRequest{ArtifactType: "file", Name: "f-" + uniq(), Bundle: clientBundle(t)})
	if r.StatusCode != 201 {
		t.Fatalf("registering: %d %s", r.StatusCode, r.body)
	}
	var g Signature
	r.decode(t, &g)
	return g.ID
}

// TestSignDigest: a SHA256SUMS digest signed by the server verifies as a
// blob bundle of that file (chain, identity, time-stamp, revocation), is
// in the registry under its digest, and counts in the metric.
func TestSignDigest(t *testing.T) {
	c := newClient(t, testSrv)
	dir := t.TempDir()
	sums := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(sums, []byte(strings.Repeat("0", 64)+"  weights.bin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(sums)
	d := sha256.Sum256(data)
	before := testutil.ToFloat64(sign.SignaturesCreated.WithLabelValues("clara-signing"))
	r := c.do(signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "manifest", Name: "adapter-x", Digest: "sha256:" + hex.EncodeToString(d[:])})
	if r.StatusCode != 201 {
		t.Fatalf("sign: %d %s", r.StatusCode, r.body)
	}
	var got Signed
	r.decode(t, &got)
	if r.Header.Get("Location") != Prefix+"/signatures/"+got.Registration.ID {
		t.Errorf("Location %q", r.Header.Get("Location"))
	}
	res, err := testVerifier("clara-*").VerifyFile(context.Background(), sums, got.Bundle)
	if err != nil {
		t.Fatalf("the server's signature does not verify: %v", err)
	}
	if res.Signer.Subject.CommonName != "clara-server-signer" || res.Time.IsZero() {
		t.Errorf("signer %s at %v", res.Signer.Subject, res.Time)
	}
	if _, err := testVerifier("covina-*").VerifyFile(context.Background(), sums, got.Bundle); err == nil {
		t.Error("a Clara signature verified as a Covina one")
	}
	certs, err := sign.ParseCertificates([]byte(got.CertificateChain))
	if err != nil || !certs[0].Equal(res.Signer) || len(got.Timestamp) == 0 || len(got.Signature) == 0 {
		t.Errorf("the parts: chain %v (%v), %d-byte time-stamp, %d-byte signature", len(certs), err, len(got.Timestamp), len(got.Signature))
	}
	if after := testutil.ToFloat64(sign.SignaturesCreated.WithLabelValues("clara-signing")); after != before+1 {
		t.Errorf("vccpki_signatures_created_total went from %v to %v", before, after)
	}
	g := got.Registration
	if g.Digest != hex.EncodeToString(d[:]) || g.Source != store.SignatureServer || g.SignerSerial != ca.FormatSerial(res.Signer.SerialNumber) ||
		g.TimestampSerial == "" || !strings.Contains(g.Actor, "carol") {
		t.Errorf("registration %+v", g)
	}
	// The time-stamp's record was written with the registry entry: the
	// token stamps this signature, under the registered serial and the
	// bundle's time.
	tsSerial, _ := strconv.ParseInt(g.TimestampSerial, 10, 64)
	rec, err := testStore.TimestampBySerial(context.Background(), tsSerial)
	sigSum := sha256.Sum256(got.Signature)
	if err != nil || !bytes.Equal(rec.Imprint, sigSum[:]) || !rec.Time.Equal(res.Time) {
		t.Errorf("the time-stamp's record %s = %+v, %v; want the imprint %x at %v", g.TimestampSerial, rec, err, sigSum, res.Time)
	}
	for _, q := range []string{"digest=" + g.Digest, "name=adapter-x", "signer=" + g.SignerSerial, "signature_digest=" + g.SignatureDigest} {
		var page Page[Signature]
		r := c.do(verif, "GET", "/signatures?"+q, nil)
		r.decode(t, &page)
		if r.StatusCode != 200 || !containsID(page.Items, g.ID) {
			t.Errorf("GET /signatures?%s: %d, %d items without %s", q, r.StatusCode, len(page.Items), g.ID)
		}
	}
	var one Signature
	if r := c.do(auditor, "GET", "/signatures/"+g.ID, nil); r.StatusCode != 200 {
		t.Errorf("GET /signatures/{id}: %d", r.StatusCode)
	} else if r.decode(t, &one); one != g {
		t.Errorf("GET /signatures/{id} = %+v, want %+v", one, g)
	}
}

func containsID(gs []Signature, id string) bool {
	for _, g := range gs {
		if g.ID == id {
			return true
		}
	}
	return false
}

// TestSignModel: a model's OMS statement sent as a DSSE payload comes
// back as a bundle that verifies against the model directory.
func TestSignModel(t *testing.T) {
	c := newClient(t, testSrv)
	dir := t.TempDir()
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("shard-%d.bin", i)), []byte(strings.Repeat("w", 1000*(i+1))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := sign.BuildManifest(dir, sign.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(sign.NewStatement("adapter-y", m))
	r := c.do(signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "lora_adapter", Name: "adapter-y", Payload: payload, PayloadType: sign.InTotoPayloadType})
	if r.StatusCode != 201 {
		t.Fatalf("sign: %d %s", r.StatusCode, r.body)
	}
	var got Signed
	r.decode(t, &got)
	res, err := testVerifier("clara-*").VerifyModel(context.Background(), dir, got.Bundle)
	if err != nil || res.Files != 3 || res.ModelName != "adapter-y" {
		t.Fatalf("VerifyModel = %+v, %v", res, err)
	}
	if sum := sha256.Sum256(payload); got.Registration.Digest != hex.EncodeToString(sum[:]) {
		t.Errorf("registered digest %s, want the payload's", got.Registration.Digest)
	}
}

// TestRegisterSignature: a developer's signature is registered once; the
// same signature again is a conflict; one of another PKI is refused.
func TestRegisterSignature(t *testing.T) {
	c := newClient(t, testSrv)
	b := clientBundle(t)
	req := RegisterRequest{ArtifactType: "file", Name: "pkg-" + uniq(), Bundle: b}
	r := c.do(signer, "POST", "/signatures", req)
	if r.StatusCode != 201 {
		t.Fatalf("register: %d %s", r.StatusCode, r.body)
	}
	var g Signature
	r.decode(t, &g)
	if g.Source != store.SignatureClient || !strings.HasPrefix(g.SignerSubject, "CN=clara-dev-") {
		t.Errorf("registration %+v", g)
	}
	if r := c.do(signer, "POST", "/signatures", req); r.StatusCode != 409 || r.problem(t).Type != ProblemBase+ProbConflict {
		t.Errorf("registering again: %d %s, want 409", r.StatusCode, r.body)
	}
}

// TestSignPaging: a cursor walks the registry one by one without
// repeats.
func TestSignPaging(t *testing.T) {
	c := newClient(t, testSrv)
	name := "paged-" + uniq()
	for range 3 {
		req := signRequest()
		req.Name = name
		if r := c.do(signer, "POST", "/sign", req); r.StatusCode != 201 {
			t.Fatalf("sign: %d %s", r.StatusCode, r.body)
		}
	}
	seen := map[string]bool{}
	path := "/signatures?limit=1&name=" + name
	for range 4 {
		var page Page[Signature]
		r := c.do(verif, "GET", path, nil)
		r.decode(t, &page)
		for _, g := range page.Items {
			if seen[g.ID] {
				t.Fatalf("%s twice", g.ID)
			}
			seen[g.ID] = true
		}
		if page.Next == "" {
			break
		}
		path = "/signatures?limit=1&name=" + name + "&cursor=" + page.Next
	}
	if len(seen) != 3 {
		t.Errorf("paged through %d signatures, want 3", len(seen))
	}
}

// TestSignNoKey: a server that does not make keys on use refuses to sign
// for a profile without one, and signs once vccpki sign key create (the
// engine's CreateSigningKey) has run.
func TestSignNoKey(t *testing.T) {
	cfg := testAPI.cfg
	cfg.NoSigningKeyCreation = true
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newClient(t, srv)
	req := signRequest()
	req.Profile = "vpb-signing"
	if r := c.do(signer, "POST", "/sign", req); r.StatusCode != 409 || r.problem(t).Type != ProblemBase+ProbConflict {
		t.Fatalf("without a key: %d %s, want 409", r.StatusCode, r.body)
	}
	if _, err := testEngine.CreateSigningKey(context.Background(), "vpb-signing", ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"}); err != nil {
		t.Fatal(err)
	}
	if r := c.do(signer, "POST", "/sign", req); r.StatusCode != 201 {
		t.Errorf("with a key: %d %s", r.StatusCode, r.body)
	}
}

// TestRegisterForgedSignature: a bundle whose chain is good but whose
// signature is not over what it claims (the digest replaced, the
// signature bytes changed) is refused, and nothing is registered.
func TestRegisterForgedSignature(t *testing.T) {
	c := newClient(t, testSrv)
	for _, tc := range []struct {
		name   string
		mutate func(ms map[string]any)
	}{
		{"another digest", func(ms map[string]any) {
			ms["messageDigest"].(map[string]any)["digest"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		}},
		{"signature bytes changed", func(ms map[string]any) {
			sig, _ := base64.StdEncoding.DecodeString(ms["signature"].(string))
			sig[len(sig)-3] ^= 1
			ms["signature"] = base64.StdEncoding.EncodeToString(sig)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b map[string]any
			if err := json.Unmarshal(clientBundle(t), &b); err != nil {
				t.Fatal(err)
			}
			tc.mutate(b["messageSignature"].(map[string]any))
			forged, _ := json.Marshal(b)
			name := "forged-" + uniq()
			r := c.do(signer, "POST", "/signatures", RegisterRequest{ArtifactType: "file", Name: name, Bundle: forged})
			if r.StatusCode != 400 || r.problem(t).Type != ProblemBase+ProbRejected || !strings.Contains(string(r.body), "does not verify") {
				t.Fatalf("forged bundle: %d %s, want 400 %s", r.StatusCode, r.body, ProbRejected)
			}
			var page Page[Signature]
			c.do(verif, "GET", "/signatures?name="+name, nil).decode(t, &page)
			if len(page.Items) != 0 {
				t.Errorf("the forged signature was registered: %+v", page.Items)
			}
		})
	}
}

// TestSignBodyLimit: POST /sign takes a DSSE payload over the API's
// 64 KiB body limit, up to its own limit (413 beyond); other endpoints
// keep 64 KiB.
func TestSignBodyLimit(t *testing.T) {
	cfg := testAPI.cfg
	cfg.MaxSignBody = 512 << 10
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newClient(t, srv)
	payload := func(n int) []byte { return bytes.Repeat([]byte("a"), n) }
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
	}{
		{"sign, 200 KiB payload", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "model", Name: "big-" + uniq(), Payload: payload(200 << 10), PayloadType: sign.InTotoPayloadType}, 201},
		{"sign, over its limit", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "model", Name: "huge-" + uniq(), Payload: payload(400 << 10), PayloadType: sign.InTotoPayloadType}, 413},
		{"register, 100 KiB", "/signatures", RegisterRequest{ArtifactType: "file", Name: "big-" + uniq(), Bundle: json.RawMessage(`"` + string(payload(100<<10)) + `"`)}, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(signer, "POST", tc.path, tc.body)
			if r.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", r.StatusCode, r.body[:min(len(r.body), 300)], tc.status)
			}
			if tc.status == 413 && r.problem(t).Type != ProblemBase+ProbTooLarge {
				t.Errorf("problem %s", r.body)
			}
		})
	}
}
