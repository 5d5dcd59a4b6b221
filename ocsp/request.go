package ocsp

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/vcc/vccpki/internal/der"
)

// The OCSPRequest of RFC 6960 §4.1.1, parsed here rather than by
// x/crypto/ocsp, which keeps only the first CertID and drops the
// requestExtensions (and with them the nonce).
//
//	OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest,
//	    optionalSignature [0] EXPLICIT Signature OPTIONAL }
//	TBSRequest ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1,
//	    requestorName [1] EXPLICIT GeneralName OPTIONAL,
//	    requestList SEQUENCE OF Request,
//	    requestExtensions [2] EXPLICIT Extensions OPTIONAL }
//	Request ::= SEQUENCE { reqCert CertID,
//	    singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
//	CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier,
//	    issuerNameHash OCTET STRING, issuerKeyHash OCTET STRING,
//	    serialNumber CertificateSerialNumber }

// maxCertIDs bounds the CertIDs of one request: each costs a store
// lookup, and the whole request a signature.
const maxCertIDs = 64

// RFC 8954 §2.1: a nonce of 0 or more than 32 octets is refused with
// malformedRequest. (RFC 9654, which obsoletes it, raises the limit to
// 128; the issue asks for RFC 8954's.)
const (
	minNonce = 1
	maxNonce = 32
)

// certID is one CertID. hash is 0 for an algorithm the responder does not
// support; the request is still well-formed.
type certID struct {
	hash     crypto.Hash
	nameHash []byte
	keyHash  []byte
	// serial is the INTEGER's content octets, two's complement, as sent.
	serial []byte
}

// request is a parsed OCSPRequest.
type request struct {
	certs []certID
	// nonce is the nonce extension's extnValue, echoed as is; nil when the
	// request has none.
	nonce []byte
}

// errMalformed marks a request that does not parse or breaks a rule of
// the RFCs; it is answered with malformedRequest.
var errMalformed = errors.New("malformed OCSP request")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
}

var (
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidNonce  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
)

// parseRequest parses a DER OCSPRequest. Slices in the result point into
// der. A signature on the request is not checked: RFC 5019 §2.1.2 lets a
// responder ignore it, and this one answers everybody alike.
func parseRequest(der []byte) (*request, error) {
	in := cryptobyte.String(der)
	var outer, tbs cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, malformed("not one DER SEQUENCE")
	}
	if !outer.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!outer.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || !outer.Empty() {
		return nil, malformed("OCSPRequest is not tbsRequest and an optional signature")
	}
	var version cryptobyte.String
	var hasVersion bool
	if !tbs.ReadOptionalASN1(&version, &hasVersion, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, malformed("bad version")
	}
	if hasVersion {
		var v int64
		if !version.ReadASN1Integer(&v) || !version.Empty() || v != 0 {
			return nil, malformed("version must be v1")
		}
	}
	var list cryptobyte.String
	if !tbs.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) ||
		!tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, malformed("no requestList")
	}
	req := &request{}
	for !list.Empty() {
		if len(req.certs) == maxCertIDs {
			return nil, malformed("more than %d CertIDs", maxCertIDs)
		}
		id, err := parseSingleRequest(&list)
		if err != nil {
			return nil, err
		}
		req.certs = append(req.certs, id)
	}
	if len(req.certs) == 0 {
		return nil, malformed("empty requestList")
	}
	var exts cryptobyte.String
	var hasExts bool
	if !tbs.ReadOptionalASN1(&exts, &hasExts, cbasn1.Tag(2).Constructed().ContextSpecific()) || !tbs.Empty() {
		return nil, malformed("bad requestExtensions")
	}
	if hasExts {
		if err := parseRequestExtensions(exts, req); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func parseSingleRequest(list *cryptobyte.String) (certID, error) {
	var single, id, alg cryptobyte.String
	if !list.ReadASN1(&single, cbasn1.SEQUENCE) || !single.ReadASN1(&id, cbasn1.SEQUENCE) ||
		!single.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || !single.Empty() {
		return certID{}, malformed("bad Request")
	}
	var oid asn1.ObjectIdentifier
	if !id.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return certID{}, malformed("bad CertID hashAlgorithm")
	}
	var c certID
	switch {
	case oid.Equal(oidSHA1):
		c.hash = crypto.SHA1
	case oid.Equal(oidSHA256):
		c.hash = crypto.SHA256
	}
	// Parameters: absent or NULL for SHA-1 and SHA-2 (RFC 5754 §2); other
	// algorithms' parameters are not ours to judge.
	if c.hash != 0 && !alg.Empty() && (!alg.SkipASN1(cbasn1.NULL) || !alg.Empty()) {
		return certID{}, malformed("bad CertID hashAlgorithm parameters")
	}
	var serial cryptobyte.String
	if !id.ReadASN1Bytes(&c.nameHash, cbasn1.OCTET_STRING) || !id.ReadASN1Bytes(&c.keyHash, cbasn1.OCTET_STRING) ||
		!id.ReadASN1(&serial, cbasn1.INTEGER) || !id.Empty() {
		return certID{}, malformed("bad CertID")
	}
	if !der.MinimalInteger(serial) {
		return certID{}, malformed("serial number is not a DER INTEGER")
	}
	if serial[0]&0x80 != 0 || (len(serial) == 1 && serial[0] == 0) {
		return certID{}, malformed("serial number must be positive (RFC 5280 §4.1.2.2)")
	}
	c.serial = serial
	if c.hash != 0 && (len(c.nameHash) != c.hash.Size() || len(c.keyHash) != c.hash.Size()) {
		return certID{}, malformed("CertID hashes are not %v hashes", c.hash)
	}
	return c, nil
}

// parseRequestExtensions finds the nonce (RFC 8954). Other extensions
// are ignored unless marked critical, which refuses the request as X.509
// extension semantics demand (RFC 5280 §4.2, which RFC 6960 §4.4 follows).
func parseRequestExtensions(exts cryptobyte.String, req *request) error {
	var seq cryptobyte.String
	if !exts.ReadASN1(&seq, cbasn1.SEQUENCE) || !exts.Empty() {
		return malformed("bad requestExtensions")
	}
	for !seq.Empty() {
		var ext cryptobyte.String
		var oid asn1.ObjectIdentifier
		var critical bool
		var value []byte
		if !seq.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
			(ext.PeekASN1Tag(cbasn1.BOOLEAN) && !ext.ReadASN1Boolean(&critical)) ||
			!ext.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
			return malformed("bad extension")
		}
		if !oid.Equal(oidNonce) {
			if critical {
				return malformed("unsupported critical extension %v", oid)
			}
			continue
		}
		if req.nonce != nil {
			return malformed("two nonce extensions")
		}
		if n := nonceLength(value); n < minNonce || n > maxNonce {
			return malformed("nonce of %d octets; RFC 8954 allows %d to %d", n, minNonce, maxNonce)
		}
		req.nonce = value
	}
	return nil
}

// nonceLength is the length of the nonce in an extnValue: the contents
// of the Nonce OCTET STRING RFC 8954 defines, or, from clients that put
// the raw bytes there as RFC 2560 implementations did, the whole value.
func nonceLength(extnValue []byte) int {
	s := cryptobyte.String(extnValue)
	var inner []byte
	if s.ReadASN1Bytes(&inner, cbasn1.OCTET_STRING) && s.Empty() {
		return len(inner)
	}
	return len(extnValue)
}

// serialKey is a serial as a fixed-size map key: its magnitude,
// right-aligned in 20 bytes (RFC 5280 §4.1.2.2: at most 20 octets).
type serialKey [20]byte

// key returns the map key of a CertID's serial (positive, as parsing
// made sure), and false for one longer than 20 octets, which no
// certificate of ours has.
func (c certID) key() (serialKey, bool) {
	var k serialKey
	s := c.serial
	if s[0] == 0 {
		s = s[1:]
	}
	if len(s) > len(k) {
		return k, false
	}
	copy(k[len(k)-len(s):], s)
	return k, true
}

// serialInt is the serial as a number.
func (c certID) serialInt() *big.Int { return new(big.Int).SetBytes(c.serial) }

// keyOf is the map key of a serial the engine reports.
func keyOf(n *big.Int) (serialKey, bool) {
	var k serialKey
	if n.Sign() <= 0 || n.BitLen() > 8*len(k) {
		return k, false
	}
	n.FillBytes(k[:])
	return k, true
}
