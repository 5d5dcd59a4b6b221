package ca

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"fmt"
	"slices"
	"time"
)

// DER writing for time-stamp tokens. A token is written by hand, not with
// encoding/asn1 or a CMS library, for two reasons: encoding/asn1 writes
// GeneralizedTime without fractions of a second, and the parts that never
// change (certificates, signer identifier, ESSCertIDv2) are encoded once,
// so a token costs a few small copies besides its signature.

// ASN.1 tags used below, besides those of der.go.
const (
	tagSet      = 0x31
	tagCtx0     = 0xa0 // [0] constructed
	tagCtx0Prim = 0x80 // [0] primitive (IMPLICIT INTEGER)
	tagCtx1Prim = 0x81
	tagCtx4     = 0xa4
)

// tlvSize is the encoded size of an element with n content bytes.
func tlvSize(n int) int { return headerLen(n) + n }

func tlv(tag byte, content ...[]byte) []byte {
	return appendTLV(nil, tag, content...)
}

// appendUint appends the minimal two's complement contents of a
// non-negative integer (a leading zero byte when the top bit is set).
func appendUint(b []byte, v uint64) []byte {
	n := 1
	for x := v >> 8; x > 0; x >>= 8 {
		n++
	}
	if v>>(8*n-1)&1 == 1 {
		b = append(b, 0)
	}
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func uintSize(v uint64) int { return len(appendUint(make([]byte, 0, 9), v)) }

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// appendFractionalTime appends genTime's contents: UTC, as many
// fractional digits as the microseconds need with trailing zeros and a
// bare dot removed, as DER and RFC 3161 §2.4.2 require ("19990609001326.34352Z").
func appendFractionalTime(b []byte, t time.Time) []byte {
	b = t.UTC().AppendFormat(b, "20060102150405.999999")
	return append(b, 'Z')
}

// appendAccuracy appends the contents of an Accuracy (RFC 3161 §2.4.2):
// seconds, then millis [0] and micros [1], each only when not zero.
func appendAccuracy(b []byte, d time.Duration) []byte {
	secs := uint64(d / time.Second)
	millis := uint64(d % time.Second / time.Millisecond)
	micros := uint64(d % time.Millisecond / time.Microsecond)
	if secs > 0 {
		b = appendHeader(b, tagInteger, uintSize(secs))
		b = appendUint(b, secs)
	}
	if millis > 0 {
		b = appendHeader(b, tagCtx0Prim, uintSize(millis))
		b = appendUint(b, millis)
	}
	if micros > 0 {
		b = appendHeader(b, tagCtx1Prim, uintSize(micros))
		b = appendUint(b, micros)
	}
	return b
}

// Object identifiers of the token.
var (
	oidSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidAttrContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningCertV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSHA256            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// hashOIDs are the message imprint algorithms the engine can stamp.
var hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256, crypto.SHA384: oidSHA384, crypto.SHA512: oidSHA512}

// sum hashes b with h (SHA-256, -384 or -512) into dst without allocating.
func sum(h crypto.Hash, b []byte, dst []byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(b)
		return append(dst, s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(b)
		return append(dst, s[:]...)
	default:
		s := sha512.Sum512(b)
		return append(dst, s[:]...)
	}
}

// algorithmID encodes an AlgorithmIdentifier, with NULL parameters or none.
func algorithmID(oid asn1.ObjectIdentifier, null bool) []byte {
	if null {
		return tlv(tagSequence, mustMarshal(oid), asn1Null)
	}
	return tlv(tagSequence, mustMarshal(oid))
}

// signatureAlgorithm chooses the CMS digest and signature algorithms for
// the TSA key: those the engine signs everything else with (sigAlgFor),
// with no parameters for ECDSA (RFC 5758 §3.2) and NULL for RSA (RFC 4055
// §5). Ed25519 is refused: OpenSSL's time-stamp verification cannot check
// a pure Ed25519 CMS signature.
func signatureAlgorithm(pub crypto.PublicKey) (crypto.Hash, []byte, error) {
	a, err := sigAlgFor(pub)
	if err != nil || a.hash == 0 {
		return 0, nil, fmt.Errorf("the TSA key is %T; time-stamps need an ECDSA or RSA key (set hierarchy.tsa.key_type)", pub)
	}
	return a.hash, a.algID, nil
}

// derSetOf returns the elements in DER SET OF order (X.690 §11.6: by their
// encodings, compared as octet strings).
func derSetOf(elems ...[]byte) [][]byte {
	out := slices.Clone(elems)
	slices.SortFunc(out, bytes.Compare)
	return out
}
