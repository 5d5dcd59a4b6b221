package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// fuzzTimestamper is a timestamper on a throwaway self-signed TSA
// certificate, without a store: sign alone is under test.
func fuzzTimestamper(t testing.TB) *timestamper {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "fuzz TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ts, err := newTimestamper(&authority{name: TSAName, cert: cert}, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// FuzzTimestampEncoding checks the hand-written DER of tokens against an
// independent reader (digitorus/timestamp and its CMS package, which
// also checks the signature) for any nonce, digest, serial, accuracy and
// time, lengths across the DER length-field boundaries included.
func FuzzTimestampEncoding(f *testing.F) {
	f.Add([]byte{1}, []byte("imprint"), int64(1), int64(1_000_000), int64(0), true, false)
	f.Add(bytes.Repeat([]byte{0x7f}, 127), []byte{}, int64(1<<62), int64(999_999), int64(123456789), false, true)
	f.Add(bytes.Repeat([]byte{0x40}, 300), []byte("x"), int64(255), int64(0), int64(999_999_999), true, true)
	f.Add([]byte{0xff, 0x01}, []byte("neg"), int64(128), int64(61_001_001), int64(500_000_000), false, false)
	ts := fuzzTimestamper(f)
	policy, err := NewTimestampPolicy(mustOID(1, 3, 6, 1, 4, 1, 32473, 3161, 1))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, nonce, data []byte, serial, accuracyMicros, nanos int64, certReq, paramsAbsent bool) {
		if serial <= 0 || accuracyMicros < 0 || accuracyMicros > 1<<40 || len(nonce) > 4096 {
			return
		}
		for len(nonce) > 1 && (nonce[0] == 0 && nonce[1]&0x80 == 0 || nonce[0] == 0xff && nonce[1]&0x80 != 0) {
			nonce = nonce[1:] // keep it a minimal INTEGER, as the front end guarantees
		}
		if len(nonce) == 0 {
			nonce = nil
		}
		digest := sum(crypto.SHA512, data, nil)
		now := time.Unix(1_800_000_000, nanos%1_000_000_000).UTC().Truncate(time.Microsecond)
		req := TimestampRequest{Hash: crypto.SHA512, HashParamsAbsent: paramsAbsent, Digest: digest, Nonce: nonce,
			Policy: policy, Accuracy: time.Duration(accuracyMicros) * time.Microsecond, CertReq: certReq}
		der, err := ts.sign(req, serial, now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := timestamp.ParseResponse(der)
		if err != nil {
			t.Fatalf("token does not parse: %v", err)
		}
		p7, err := pkcs7.Parse(got.RawToken)
		if err != nil {
			t.Fatal(err)
		}
		if !certReq {
			p7.Certificates = []*x509.Certificate{ts.cert}
		}
		if err := p7.Verify(); err != nil {
			t.Fatalf("signature: %v", err)
		}
		wantNonce := (*big.Int)(nil)
		if nonce != nil {
			wantNonce = new(big.Int).SetBytes(nonce)
			if nonce[0]&0x80 != 0 {
				wantNonce.Sub(wantNonce, new(big.Int).Lsh(big.NewInt(1), uint(8*len(nonce))))
			}
		}
		switch {
		case !bytes.Equal(got.HashedMessage, digest) || got.HashAlgorithm != crypto.SHA512:
			t.Fatal("imprint differs")
		case got.SerialNumber.Cmp(big.NewInt(serial)) != 0:
			t.Fatalf("serial %v, want %d", got.SerialNumber, serial)
		case !got.Time.Equal(now):
			t.Fatalf("genTime %v, want %v", got.Time, now)
		case got.Accuracy != req.Accuracy:
			t.Fatalf("accuracy %v, want %v", got.Accuracy, req.Accuracy)
		case (wantNonce == nil) != (got.Nonce == nil) || wantNonce != nil && wantNonce.Cmp(got.Nonce) != 0:
			t.Fatalf("nonce %v, want %v", got.Nonce, wantNonce)
		case got.Policy.String() != policy.String():
			t.Fatalf("policy %v", got.Policy)
		}
		var raw asn1.RawValue
		if rest, err := asn1.Unmarshal(der, &raw); err != nil || len(rest) != 0 {
			t.Fatalf("trailing bytes after the TimeStampResp: %v", err)
		}
	})
}
