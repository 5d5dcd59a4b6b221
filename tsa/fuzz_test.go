package tsa

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/digitorus/timestamp"
)

// FuzzParseRequest feeds TimeStampReq bodies to the parser and the offer
// check. The seeds are queries openssl made in TestOpenSSL (testdata/fuzz,
// captured with VCCPKI_CAPTURE_SEEDS=1) and the bad-input shapes. Nothing
// may panic; a refusal must encode as a TimeStampResp; and what this TSA
// accepts, digitorus/timestamp's parser must read the same way.
func FuzzParseRequest(f *testing.F) {
	f.Add(goodReq(f, nil))
	f.Add(goodReq(f, func(r *testReq) {
		r.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Critical: true, Value: []byte{1}}}
	}))
	f.Add(goodReq(f, func(r *testReq) {
		r.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{1}}}
	}))
	f.Add(goodReq(f, func(r *testReq) { r.Policy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3161, 1} }))
	f.Add(goodReq(f, func(r *testReq) { r.Imprint.Alg.Parameters = asn1.RawValue{} }))
	f.Add(goodReq(f, func(r *testReq) { r.Nonce = asn1.RawValue{} }))
	f.Add([]byte{})
	// Policies that encoding/asn1 can read, so the comparison covers them.
	o, err := Config{Policies: []x509.OID{policyOID, mustOID("1.3.6.1.4.1.32473.3161.2")}}.compile()
	if err != nil {
		f.Fatal(err)
	}
	h := &Handler{offer: o}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, rej := parseRequest(body)
		if rej == nil {
			rej = h.check(&req)
		}
		if rej != nil {
			var r testResp
			if rest, err := asn1.Unmarshal(errorReply(rej.info, rej.detail), &r); err != nil || len(rest) > 0 || r.Status.FailInfo.At(int(rej.info)) != 1 {
				t.Fatalf("refusal %v %q does not encode: %v", rej.info, rej.detail, err)
			}
			return
		}
		lib, err := timestamp.ParseRequest(body)
		if err != nil {
			t.Fatalf("accepted here, refused by digitorus/timestamp: %v", err)
		}
		if lib.HashAlgorithm != req.hash || !bytes.Equal(lib.HashedMessage, req.digest) || lib.Certificates != req.certReq {
			t.Fatalf("imprint or certReq read differently: %v %x %v vs %v %x %v", lib.HashAlgorithm, lib.HashedMessage, lib.Certificates, req.hash, req.digest, req.certReq)
		}
		if (lib.Nonce == nil) != (req.nonce == nil) || lib.Nonce != nil && lib.Nonce.Cmp(signed(req.nonce)) != 0 {
			t.Fatalf("nonce read differently: %v vs %x", lib.Nonce, req.nonce)
		}
		if req.policy != nil && lib.TSAPolicyOID.String() != oidText(req.policy) {
			t.Fatalf("policy read differently: %v vs %s", lib.TSAPolicyOID, oidText(req.policy))
		}
	})
}

// signed reads two's complement big-endian bytes.
func signed(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}
