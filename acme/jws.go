package acme

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
)

// Signature algorithms accepted on JWS requests (RFC 8555 §6.2: servers
// MUST support ES256 and SHOULD support EdDSA; RFC 7518 §3). "none" and
// MAC algorithms are refused: a MAC only appears inside an external
// account binding.
var allowedAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "PS256", "RS256"}

// minRSABits is the smallest account key modulus accepted.
const minRSABits = 2048

var b64 = base64.RawURLEncoding

// jws is a parsed flattened JWS (RFC 7515 §7.2.2), not yet verified.
type jws struct {
	header    protectedHeader
	protected string // as sent, base64url
	payload   []byte // decoded
	rawPay    string // as sent, base64url
	signature []byte
}

type protectedHeader struct {
	Alg   string          `json:"alg"`
	Nonce string          `json:"nonce"`
	URL   string          `json:"url"`
	JWK   json.RawMessage `json:"jwk"`
	KID   string          `json:"kid"`
	Crit  json.RawMessage `json:"crit"`
}

// flattened is the wire form; the other members are there to be refused.
type flattened struct {
	Protected  *string         `json:"protected"`
	Payload    *string         `json:"payload"`
	Signature  *string         `json:"signature"`
	Header     json.RawMessage `json:"header"`
	Signatures json.RawMessage `json:"signatures"`
}

// parseJWS reads the flattened JSON serialization ACME requires (RFC 8555
// §6.2): exactly one signature, all header parameters protected.
func parseJWS(body []byte) (*jws, *problem) {
	var f flattened
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, malformed("the request body is not a JSON Web Signature: %v", jsonErr(err))
	}
	if f.Signatures != nil {
		return nil, malformed("the JWS has a \"signatures\" array: ACME needs the flattened serialization with exactly one signature (RFC 8555 §6.2)")
	}
	if f.Header != nil {
		return nil, malformed("the JWS has an unprotected header: every header parameter must be protected (RFC 8555 §6.2)")
	}
	if f.Protected == nil || f.Payload == nil || f.Signature == nil {
		return nil, malformed("the JWS needs \"protected\", \"payload\" and \"signature\"")
	}
	out := &jws{protected: *f.Protected, rawPay: *f.Payload}
	hdr, err := b64.DecodeString(*f.Protected)
	if err != nil {
		return nil, malformed("the JWS protected header is not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&out.header); err != nil {
		return nil, malformed("the JWS protected header is not a JSON object: %v", jsonErr(err))
	}
	if out.header.Crit != nil {
		return nil, malformed("the JWS protected header has \"crit\"; no extension is supported")
	}
	if out.payload, err = b64.DecodeString(*f.Payload); err != nil {
		return nil, malformed("the JWS payload is not base64url")
	}
	if out.signature, err = b64.DecodeString(*f.Signature); err != nil {
		return nil, malformed("the JWS signature is not base64url")
	}
	return out, nil
}

// jsonErr keeps decoder messages short and free of the input.
func jsonErr(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at offset %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %q has the wrong type", e.Field)
	}
	return "invalid JSON"
}

func badAlgorithm(format string, args ...any) *problem {
	p := newProblem(probBadSignatureAlg, http.StatusBadRequest, format, args...)
	p.Algorithms = allowedAlgs
	return p
}

func checkAlg(alg string) *problem {
	for _, a := range allowedAlgs {
		if a == alg {
			return nil
		}
	}
	return badAlgorithm("JWS algorithm %q is not accepted; use one of %v", alg, allowedAlgs)
}

// jwk is a parsed public JSON Web Key (RFC 7517) with its RFC 7638
// thumbprint.
type jwk struct {
	key        crypto.PublicKey
	thumbprint string
	raw        []byte // canonical JSON of the required members
}

type jwkWire struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
}

// parseJWK reads a public key. Private members are refused: a client that
// sends its private key has a bug worth hearing about.
func parseJWK(raw []byte) (*jwk, *problem) {
	var w jwkWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, malformed("the JWK is not a JSON object: %v", jsonErr(err))
	}
	if w.D != "" {
		return nil, newProblem(probBadPublicKey, http.StatusBadRequest, "the JWK carries a private key")
	}
	bad := func(format string, args ...any) (*jwk, *problem) {
		return nil, newProblem(probBadPublicKey, http.StatusBadRequest, format, args...)
	}
	var canon any
	k := &jwk{}
	switch w.Kty {
	case "EC":
		var curve elliptic.Curve
		switch w.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return bad("EC curve %q is not supported; use P-256, P-384 or P-521", w.Crv)
		}
		x, err1 := b64.DecodeString(w.X)
		y, err2 := b64.DecodeString(w.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return bad("the EC key's coordinates are not %d-byte base64url values", size)
		}
		// Build the uncompressed point and let crypto/ecdh-backed parsing
		// check that it is on the curve.
		pt := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return bad("the EC key is not a point on %s", w.Crv)
		}
		k.key = pub
		canon = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{w.Crv, w.Kty, w.X, w.Y}
	case "RSA":
		n, err1 := b64.DecodeString(w.N)
		e, err2 := b64.DecodeString(w.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 || n[0] == 0 || e[0] == 0 {
			return bad("the RSA key's n and e are not base64url integers")
		}
		ev := int(new(big.Int).SetBytes(e).Int64())
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}
		if pub.N.BitLen() < minRSABits || pub.N.BitLen() > 8192 || ev < 3 || ev%2 == 0 {
			return bad("RSA account keys must have a 2048 to 8192 bit modulus and an odd exponent")
		}
		k.key = pub
		canon = struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{w.E, w.Kty, w.N}
	case "OKP":
		x, err := b64.DecodeString(w.X)
		if w.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return bad("OKP keys must be Ed25519 with a 32-byte x")
		}
		k.key = ed25519.PublicKey(x)
		canon = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{w.Crv, w.Kty, w.X}
	default:
		return bad("key type %q is not supported; use EC, RSA or OKP (Ed25519)", w.Kty)
	}
	// RFC 7638 §3: the required members, lexicographic order, no spaces;
	// encoding/json writes struct fields in the order declared above.
	k.raw, _ = json.Marshal(canon)
	sum := sha256.Sum256(k.raw)
	k.thumbprint = b64.EncodeToString(sum[:])
	return k, nil
}

// verify checks the JWS signature with key under the header's algorithm,
// which must fit the key type (RFC 7518 §3.1).
func (j *jws) verify(k *jwk) *problem {
	signed := []byte(j.protected + "." + j.rawPay)
	alg := j.header.Alg
	mismatch := func() *problem {
		return badAlgorithm("JWS algorithm %s does not fit the account key", alg)
	}
	ok := false
	switch pub := k.key.(type) {
	case *ecdsa.PublicKey:
		var h crypto.Hash
		switch {
		case alg == "ES256" && pub.Curve == elliptic.P256():
			h = crypto.SHA256
		case alg == "ES384" && pub.Curve == elliptic.P384():
			h = crypto.SHA384
		case alg == "ES512" && pub.Curve == elliptic.P521():
			h = crypto.SHA512
		default:
			return mismatch()
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(j.signature) != 2*size {
			break
		}
		r := new(big.Int).SetBytes(j.signature[:size])
		s := new(big.Int).SetBytes(j.signature[size:])
		ok = ecdsa.Verify(pub, digest(h, signed), r, s)
	case *rsa.PublicKey:
		switch alg {
		case "RS256":
			ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest(crypto.SHA256, signed), j.signature) == nil
		case "PS256":
			ok = rsa.VerifyPSS(pub, crypto.SHA256, digest(crypto.SHA256, signed), j.signature, nil) == nil
		default:
			return mismatch()
		}
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return mismatch()
		}
		ok = ed25519.Verify(pub, signed, j.signature)
	}
	if !ok {
		return malformed("the JWS signature does not verify")
	}
	return nil
}

func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(msg)
		return s[:]
	}
	s := sha256.Sum256(msg)
	return s[:]
}

// verifyMAC checks an HS256/HS384/HS512 JWS, the external account binding
// (RFC 8555 §7.3.4).
func (j *jws) verifyMAC(key []byte) bool {
	var mac []byte
	signed := []byte(j.protected + "." + j.rawPay)
	switch j.header.Alg {
	case "HS256":
		m := hmac.New(sha256.New, key)
		m.Write(signed)
		mac = m.Sum(nil)
	case "HS384":
		m := hmac.New(sha512.New384, key)
		m.Write(signed)
		mac = m.Sum(nil)
	case "HS512":
		m := hmac.New(sha512.New, key)
		m.Write(signed)
		mac = m.Sum(nil)
	default:
		return false
	}
	return hmac.Equal(mac, j.signature)
}
