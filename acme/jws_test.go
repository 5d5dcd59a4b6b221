package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"testing"
)

// testJWK returns the public JWK of a key, as a client would send it.
func testJWK(t *testing.T, key crypto.Signer) map[string]string {
	t.Helper()
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		b, _ := k.Bytes()
		size := (len(b) - 1) / 2
		crv := map[int]string{32: "P-256", 48: "P-384", 66: "P-521"}[size]
		return map[string]string{"kty": "EC", "crv": crv, "x": b64.EncodeToString(b[1 : 1+size]), "y": b64.EncodeToString(b[1+size:])}
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(k)}
	}
	t.Fatalf("unknown key %T", key)
	return nil
}

// testSign signs a flattened JWS with alg, independently of the code
// under test.
func testSign(t *testing.T, key crypto.Signer, alg string, payload []byte) []byte {
	t.Helper()
	hdr, _ := json.Marshal(map[string]any{"alg": alg, "jwk": testJWK(t, key), "nonce": "n", "url": "https://ca/acme/new-account"})
	prot, pay := b64.EncodeToString(hdr), b64.EncodeToString(payload)
	msg := []byte(prot + "." + pay)
	var sig []byte
	var err error
	switch alg {
	case "ES256", "ES384", "ES512":
		h := map[string]crypto.Hash{"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512}[alg]
		k := key.(*ecdsa.PrivateKey)
		r, s, e := ecdsa.Sign(rand.Reader, k, digest(h, msg))
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		err = e
	case "RS256":
		sum := sha256.Sum256(msg)
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	case "PS256":
		sum := sha256.Sum256(msg)
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, sum[:], nil)
	case "EdDSA":
		sig = ed25519.Sign(key.(ed25519.PrivateKey), msg)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"protected": prot, "payload": pay, "signature": b64.EncodeToString(sig)})
	return body
}

func TestJWSAlgorithms(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name    string
		key     crypto.Signer
		signAs  string // algorithm the signature is made with
		claim   string // algorithm the header names; "" = signAs
		tamper  bool
		problem string // "" for a good signature
	}{
		{"ES256", p256, "ES256", "", false, ""},
		{"ES384", p384, "ES384", "", false, ""},
		{"ES512", p521, "ES512", "", false, ""},
		{"RS256", rsa2048, "RS256", "", false, ""},
		{"PS256", rsa2048, "PS256", "", false, ""},
		{"EdDSA", ed, "EdDSA", "", false, ""},
		{"ES256 tampered payload", p256, "ES256", "", true, probMalformed},
		{"EdDSA tampered payload", ed, "EdDSA", "", true, probMalformed},
		{"RS256 tampered payload", rsa2048, "RS256", "", true, probMalformed},
		{"ES256 header with a P-384 key", p384, "ES384", "ES256", false, probBadSignatureAlg},
		{"RS256 header with an EC key", p256, "ES256", "RS256", false, probBadSignatureAlg},
		{"EdDSA header with an RSA key", rsa2048, "RS256", "EdDSA", false, probBadSignatureAlg},
		{"PS256 signature under an RS256 header", rsa2048, "PS256", "RS256", false, probMalformed},
		{"RSA key under 2048 bits", rsa1024, "RS256", "", false, probBadPublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]string
			json.Unmarshal(testSign(t, tc.key, tc.signAs, []byte(`{"a":1}`)), &m)
			if tc.claim != "" {
				hdr, _ := b64.DecodeString(m["protected"])
				var h map[string]any
				json.Unmarshal(hdr, &h)
				h["alg"] = tc.claim
				nh, _ := json.Marshal(h)
				m["protected"] = b64.EncodeToString(nh)
			}
			if tc.tamper {
				m["payload"] = b64.EncodeToString([]byte(`{"a":2}`))
			}
			body, _ := json.Marshal(m)
			j, p := parseJWS(body)
			if p != nil {
				t.Fatal(p)
			}
			if p := checkAlg(j.header.Alg); p != nil {
				t.Fatal(p)
			}
			k, p := parseJWK(j.header.JWK)
			if p == nil {
				p = j.verify(k)
			}
			got := ""
			if p != nil {
				got = p.Type
			}
			if got != tc.problem {
				t.Fatalf("got %q (%v), want %q", got, p, tc.problem)
			}
		})
	}
}

// TestJWKThumbprint checks RFC 7638 §3.1's example thumbprint.
func TestJWKThumbprint(t *testing.T) {
	raw := `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	k, p := parseJWK([]byte(raw))
	if p != nil {
		t.Fatal(p)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; k.thumbprint != want {
		t.Fatalf("thumbprint %s, want %s", k.thumbprint, want)
	}
}
