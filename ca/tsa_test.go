package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

var testPolicy = mustPolicy(mustOID("1.3.6.1.4.1.32473.3161.1"))

func mustOID(s string) x509.OID {
	oid, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return oid
}

func mustPolicy(oid x509.OID) ca.TimestampPolicy {
	p, err := ca.NewTimestampPolicy(oid)
	if err != nil {
		panic(err)
	}
	return p
}

// timestamping opens an engine with time-stamping enabled on f's store,
// with a clock when now is not nil.
func timestamping(t testing.TB, f *fixture, now func() time.Time) *ca.Engine {
	t.Helper()
	cfg := testConfig()
	cfg.Now = now
	e := reopen(t, f, cfg, ca.Options{})
	if err := e.EnableTimestamps(context.Background(), f.store.(store.TimestampStore)); err != nil {
		t.Fatal(err)
	}
	return e
}

func digestOf(h crypto.Hash, data string) []byte {
	switch h {
	case crypto.SHA384:
		s := sha512.Sum384([]byte(data))
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512([]byte(data))
		return s[:]
	}
	s := sha256.Sum256([]byte(data))
	return s[:]
}

// TestTimestamp signs tokens of every kind and reads them back with an
// independent parser (digitorus/timestamp and its CMS package), which
// checks the signature, and against the store's record.
func TestTimestamp(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	clock := time.Now().UTC().Truncate(time.Second)
	second := clock.Format("20060102150405")
	var offset time.Duration
	e := timestamping(t, f, func() time.Time { return clock.Add(offset) })
	tsaCert, _ := e.CACert(ca.TSAName)
	codeSigning, _ := e.CACert(ca.CodeSigningCA)
	roots := x509.NewCertPool()
	roots.AddCert(e.Root())

	for _, tc := range []struct {
		name     string
		req      ca.TimestampRequest
		offset   time.Duration
		genTime  string // as written in the token
		accuracy time.Duration
	}{
		{"sha256 with nonce and certificates", ca.TimestampRequest{Hash: crypto.SHA256, Nonce: []byte{0x01, 0x02}, CertReq: true, Accuracy: time.Second}, 0, second + "Z", time.Second},
		{"sha384 without nonce", ca.TimestampRequest{Hash: crypto.SHA384, Accuracy: 1500 * time.Millisecond}, 500 * time.Millisecond, second + ".5Z", 1500 * time.Millisecond},
		{"sha512 negative nonce", ca.TimestampRequest{Hash: crypto.SHA512, Nonce: []byte{0xff, 0x01}, CertReq: true, Accuracy: 250 * time.Microsecond}, 123456789, second + ".123456Z", 250 * time.Microsecond},
		{"sha256 imprint without NULL parameters", ca.TimestampRequest{Hash: crypto.SHA256, HashParamsAbsent: true}, 120 * time.Millisecond, second + ".12Z", 0},
		{"long nonce", ca.TimestampRequest{Hash: crypto.SHA256, Nonce: bytes.Repeat([]byte{0x5a}, 300), CertReq: true, Accuracy: 7*time.Second + 3*time.Millisecond + 9*time.Microsecond}, time.Microsecond, second + ".000001Z", 7*time.Second + 3*time.Millisecond + 9*time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.Digest = digestOf(req.Hash, tc.name)
			req.Policy = testPolicy
			offset = tc.offset
			got, err := e.Timestamp(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got.DER, append([]byte{0x18, byte(len(tc.genTime))}, tc.genTime...)) {
				t.Errorf("genTime %q not in the token", tc.genTime)
			}
			ts, err := timestamp.ParseResponse(got.DER)
			if err != nil {
				t.Fatal(err)
			}
			p7, err := pkcs7.Parse(ts.RawToken)
			if err != nil {
				t.Fatal(err)
			}
			if req.CertReq {
				if len(p7.Certificates) != 2 || !p7.Certificates[0].Equal(tsaCert) && !p7.Certificates[1].Equal(tsaCert) {
					t.Fatalf("certReq: %d certificates, want the TSA's and the Code Signing CA's", len(p7.Certificates))
				}
				opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}, CurrentTime: got.Time}
				opts.Intermediates.AddCert(codeSigning)
				if _, err := tsaCert.Verify(opts); err != nil {
					t.Fatalf("the TSA certificate does not chain to the root for time-stamping: %v", err)
				}
			} else {
				if len(p7.Certificates) != 0 {
					t.Fatalf("no certReq: %d certificates in the token", len(p7.Certificates))
				}
				p7.Certificates = []*x509.Certificate{tsaCert}
			}
			if err := p7.Verify(); err != nil {
				t.Fatalf("signature: %v", err)
			}
			var essV2 asn1.RawValue
			if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}, &essV2); err != nil {
				t.Fatalf("no signingCertificateV2 (RFC 5816): %v", err)
			}
			certHash := sha256.Sum256(tsaCert.Raw)
			if !bytes.Contains(essV2.FullBytes, certHash[:]) {
				t.Fatal("signingCertificateV2 does not name the TSA certificate")
			}
			wantNonce := (*big.Int)(nil)
			if req.Nonce != nil {
				wantNonce = new(big.Int).SetBytes(req.Nonce)
				if req.Nonce[0]&0x80 != 0 {
					wantNonce.Sub(wantNonce, new(big.Int).Lsh(big.NewInt(1), uint(8*len(req.Nonce))))
				}
			}
			switch {
			case ts.HashAlgorithm != req.Hash || !bytes.Equal(ts.HashedMessage, req.Digest):
				t.Errorf("imprint %v %x, want %v %x", ts.HashAlgorithm, ts.HashedMessage, req.Hash, req.Digest)
			case ts.Policy.String() != testPolicy.String():
				t.Errorf("policy %v", ts.Policy)
			case ts.SerialNumber.Int64() != got.Serial || got.Serial <= 0:
				t.Errorf("serial %v in the token, %d returned", ts.SerialNumber, got.Serial)
			case !ts.Time.Equal(got.Time) || !got.Time.Equal(clock.Add(tc.offset).Truncate(time.Microsecond)):
				t.Errorf("genTime %v in the token, %v returned, clock %v", ts.Time, got.Time, clock.Add(tc.offset))
			case ts.Accuracy != tc.accuracy:
				t.Errorf("accuracy %v, want %v", ts.Accuracy, tc.accuracy)
			case ts.Ordering:
				t.Error("ordering is true")
			case (wantNonce == nil) != (ts.Nonce == nil) || wantNonce != nil && wantNonce.Cmp(ts.Nonce) != 0:
				t.Errorf("nonce %v, want %v", ts.Nonce, wantNonce)
			}
			rec, err := f.store.(store.TimestampStore).TimestampBySerial(t.Context(), got.Serial)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Time.Equal(got.Time) || rec.Hash != ca.HashName(req.Hash) || !bytes.Equal(rec.Imprint, req.Digest) || rec.Policy != testPolicy.String() {
				t.Errorf("record %+v does not match the token", rec)
			}
		})
	}
}

// TestTimestampSerials: serials never repeat, across engines sharing a
// store (two server instances) and across a restart.
func TestTimestampSerials(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	second := openFixture(t, f.dir, ca.DefaultHierarchy()) // another handle on the same file
	engines := []*ca.Engine{timestamping(t, f, nil), timestamping(t, second, nil)}
	var (
		mu   sync.Mutex
		seen = map[int64]bool{}
		wg   sync.WaitGroup
	)
	stamp := func(e *ca.Engine) {
		got, err := e.Timestamp(context.Background(), ca.TimestampRequest{Hash: crypto.SHA256, Digest: digestOf(crypto.SHA256, "x"), Policy: testPolicy})
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[got.Serial] {
			t.Errorf("serial %d handed out twice", got.Serial)
		}
		seen[got.Serial] = true
	}
	for _, e := range engines {
		for range 4 {
			wg.Go(func() {
				for range 25 {
					stamp(e)
				}
			})
		}
	}
	wg.Wait()
	restarted := timestamping(t, f, nil)
	for range 10 {
		stamp(restarted)
	}
	if len(seen) != 210 {
		t.Fatalf("%d distinct serials, want 210", len(seen))
	}
	recs, err := f.store.(store.TimestampStore).TimestampsByImprint(t.Context(), digestOf(crypto.SHA256, "x"))
	if err != nil || len(recs) != 210 {
		t.Fatalf("%d records, %v; want 210", len(recs), err)
	}
}

// TestTimestampRefusals: what the engine refuses, with which kind; a
// refusal records nothing.
func TestTimestampRefusals(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	e := timestamping(t, f, nil)
	late := timestamping(t, f, func() time.Time { return time.Now().AddDate(30, 0, 0) })
	disabled := reopen(t, f, testConfig(), ca.Options{})
	sha1 := make([]byte, 20)
	good := ca.TimestampRequest{Hash: crypto.SHA256, Digest: digestOf(crypto.SHA256, "refused"), Policy: testPolicy}
	with := func(mutate func(*ca.TimestampRequest)) ca.TimestampRequest {
		r := good
		mutate(&r)
		return r
	}
	for _, tc := range []struct {
		name   string
		engine *ca.Engine
		req    ca.TimestampRequest
		kind   caerr.Kind
	}{
		{"SHA-1", e, with(func(r *ca.TimestampRequest) { r.Hash, r.Digest = crypto.SHA1, sha1 }), caerr.Malformed},
		{"MD5", e, with(func(r *ca.TimestampRequest) { r.Hash, r.Digest = crypto.MD5, sha1[:16] }), caerr.Malformed},
		{"short digest", e, with(func(r *ca.TimestampRequest) { r.Digest = r.Digest[:31] }), caerr.Malformed},
		{"SHA-512 length under SHA-256", e, with(func(r *ca.TimestampRequest) { r.Digest = digestOf(crypto.SHA512, "x") }), caerr.Malformed},
		{"padded nonce", e, with(func(r *ca.TimestampRequest) { r.Nonce = []byte{0, 1} }), caerr.Malformed},
		{"empty nonce", e, with(func(r *ca.TimestampRequest) { r.Nonce = []byte{} }), caerr.Malformed},
		{"no policy", e, with(func(r *ca.TimestampRequest) { r.Policy = ca.TimestampPolicy{} }), caerr.Internal},
		{"sub-microsecond accuracy", e, with(func(r *ca.TimestampRequest) { r.Accuracy = time.Nanosecond }), caerr.Internal},
		{"TSA certificate expired", late, good, caerr.Unavailable},
		{"not enabled", disabled, good, caerr.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.engine.Timestamp(t.Context(), tc.req)
			if err == nil || caerr.KindOf(err) != tc.kind {
				t.Fatalf("error %v, want kind %v", err, tc.kind)
			}
		})
	}
	recs, err := f.store.(store.TimestampStore).TimestampsByImprint(t.Context(), good.Digest)
	if err != nil || len(recs) != 0 {
		t.Fatalf("refusals left %d records (%v)", len(recs), err)
	}
	if _, err := e.Timestamp(t.Context(), good); err != nil {
		t.Fatalf("a good request after the refusals: %v", err)
	}
}
