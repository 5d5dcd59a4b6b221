package ocsp_test

import (
	"crypto"
	_ "crypto/md5" // a CertID hash the responder does not support
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// Hand-built requests, for what x/crypto/ocsp.CreateRequest cannot make:
// several CertIDs, a nonce, other hash algorithms.

type certIDASN1 struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	KeyHash       []byte
	Serial        *big.Int
}

type singleRequestASN1 struct {
	Cert certIDASN1
}

type tbsRequestASN1 struct {
	List []singleRequestASN1
	Exts []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

type requestASN1 struct {
	TBS tbsRequestASN1
}

var (
	oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA1:   {1, 3, 14, 3, 2, 26},
		crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
		crypto.MD5:    {1, 2, 840, 113549, 2, 5},
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	}
)

// certIDFor computes a CertID of issuer's certificate with serial.
func certIDFor(t testing.TB, issuer *x509.Certificate, h crypto.Hash, serial *big.Int) certIDASN1 {
	t.Helper()
	var spki struct {
		Alg pkix.AlgorithmIdentifier
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatal(err)
	}
	nh, kh := h.New(), h.New()
	nh.Write(issuer.RawSubject)
	kh.Write(spki.Key.RightAlign())
	return certIDASN1{
		HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: hashOIDs[h], Parameters: asn1.NullRawValue},
		NameHash:      nh.Sum(nil),
		KeyHash:       kh.Sum(nil),
		Serial:        serial,
	}
}

func marshalRequest(t testing.TB, ids []certIDASN1, nonce []byte) []byte {
	t.Helper()
	req := requestASN1{}
	for _, id := range ids {
		req.TBS.List = append(req.TBS.List, singleRequestASN1{id})
	}
	if nonce != nil {
		req.TBS.Exts = []pkix.Extension{{Id: oidNonce, Value: nonce}}
	}
	der, err := asn1.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// multiRequest is a request for several serials of one issuer, with a
// nonce extnValue when nonce is not nil.
func multiRequest(t testing.TB, issuer *x509.Certificate, h crypto.Hash, nonce []byte, serials ...*big.Int) []byte {
	t.Helper()
	var ids []certIDASN1
	for _, s := range serials {
		ids = append(ids, certIDFor(t, issuer, h, s))
	}
	return marshalRequest(t, ids, nonce)
}

func multiRequestMixed(t testing.TB, a, aIssuer, b, bIssuer *x509.Certificate) []byte {
	t.Helper()
	return marshalRequest(t, []certIDASN1{certIDFor(t, aIssuer, crypto.SHA1, a.SerialNumber), certIDFor(t, bIssuer, crypto.SHA1, b.SerialNumber)}, nil)
}

// basicASN1 is a BasicOCSPResponse as far as the tests look into it.
type basicASN1 struct {
	TBS struct {
		Raw         asn1.RawContent
		ResponderID asn1.RawValue
		ProducedAt  time.Time `asn1:"generalized"`
		Responses   []struct {
			CertID     certIDASN1
			Status     asn1.RawValue
			ThisUpdate time.Time `asn1:"generalized"`
			NextUpdate time.Time `asn1:"generalized,explicit,tag:0,optional"`
		}
		Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
	Alg  pkix.AlgorithmIdentifier
	Sig  asn1.BitString
	Cert []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

func parseBasic(t testing.TB, der []byte) basicASN1 {
	t.Helper()
	var resp struct {
		Status asn1.Enumerated
		Bytes  struct {
			Type  asn1.ObjectIdentifier
			Basic []byte
		} `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &resp); err != nil {
		t.Fatal(err)
	}
	var basic basicASN1
	if _, err := asn1.Unmarshal(resp.Bytes.Basic, &basic); err != nil {
		t.Fatal(err)
	}
	return basic
}

func responseNonce(t testing.TB, der []byte) []byte {
	t.Helper()
	for _, e := range parseBasic(t, der).TBS.Extensions {
		if e.Id.Equal(oidNonce) {
			return e.Value
		}
	}
	return nil
}

func singleSerials(t testing.TB, der []byte) []*big.Int {
	t.Helper()
	var out []*big.Int
	for _, r := range parseBasic(t, der).TBS.Responses {
		out = append(out, r.CertID.Serial)
	}
	return out
}
