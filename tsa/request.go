package tsa

import (
	"crypto"
	"encoding/asn1"
	"fmt"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/vcc/vccpki/internal/der"
)

// request is a parsed TimeStampReq (RFC 3161 §2.4.1). Its byte slices
// point into the request body.
type request struct {
	hash             crypto.Hash
	hashParamsAbsent bool
	digest           []byte
	policy           []byte // contents of reqPolicy's OID, nil when absent
	nonce            []byte // contents of the nonce INTEGER, nil when absent
	certReq          bool
}

// rejection is a request the TSA refuses, with the PKIFailureInfo bit
// RFC 3161 §2.4.2 names for it and a message a person can act on.
type rejection struct {
	info   timestamp.FailureInfo
	detail string
}

func (r *rejection) Error() string { return r.detail }

func reject(info timestamp.FailureInfo, format string, args ...any) *rejection {
	return &rejection{info: info, detail: fmt.Sprintf(format, args...)}
}

// imprintHash is a message imprint algorithm the parser recognises.
type imprintHash struct {
	oid  []byte // contents of the OID
	hash crypto.Hash
	name string
}

func oidContents(oid asn1.ObjectIdentifier) []byte {
	der, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return der[2:]
}

// knownHashes: SHA-1 and MD5 are recognised so that the refusal can name
// them; they are never accepted (see Config).
var knownHashes = []imprintHash{
	{oidContents(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}), crypto.SHA256, "SHA-256"},
	{oidContents(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}), crypto.SHA384, "SHA-384"},
	{oidContents(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}), crypto.SHA512, "SHA-512"},
	{oidContents(asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}), crypto.SHA1, "SHA-1"},
	{oidContents(asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}), crypto.MD5, "MD5"},
}

var (
	errNotDER     = "the body is not a DER-encoded TimeStampReq (RFC 3161 §2.4.1)"
	tagCertReq    = cbasn1.BOOLEAN
	tagExtensions = cbasn1.Tag(0).Constructed().ContextSpecific()
)

// parseRequest reads a DER TimeStampReq. It checks the structure only;
// whether the hash and policy are offered is the handler's business.
func parseRequest(body []byte) (request, *rejection) {
	var (
		req                     request
		outer, tsr, imprint, id cryptobyte.String
		oid, digest             []byte
		version                 int64
	)
	outer = cryptobyte.String(body)
	if !outer.ReadASN1(&tsr, cbasn1.SEQUENCE) || !outer.Empty() {
		return req, reject(timestamp.BadDataFormat, "%s", errNotDER)
	}
	if !tsr.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || !tsr.ReadASN1(&imprint, cbasn1.SEQUENCE) {
		return req, reject(timestamp.BadDataFormat, "%s", errNotDER)
	}
	if version != 1 {
		return req, reject(timestamp.BadDataFormat, "TimeStampReq version %d is not v1 (1)", version)
	}
	// MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
	if !imprint.ReadASN1(&id, cbasn1.SEQUENCE) || !imprint.ReadASN1Bytes(&digest, cbasn1.OCTET_STRING) || !imprint.Empty() ||
		!id.ReadASN1Bytes(&oid, cbasn1.OBJECT_IDENTIFIER) || len(oid) == 0 {
		return req, reject(timestamp.BadDataFormat, "the messageImprint is not a hash algorithm and a digest")
	}
	switch {
	case id.Empty():
		req.hashParamsAbsent = true
	case string(id) == "\x05\x00": // NULL
	default:
		return req, reject(timestamp.BadAlgorithm, "the hash algorithm's parameters must be absent or NULL")
	}
	req.digest = digest
	for _, h := range knownHashes {
		if string(h.oid) == string(oid) {
			req.hash = h.hash
		}
	}
	if req.hash == 0 {
		return req, reject(timestamp.BadAlgorithm, "hash algorithm %s is unknown here; use SHA-256, SHA-384 or SHA-512", oidText(oid))
	}
	if tsr.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
		if !tsr.ReadASN1Bytes(&req.policy, cbasn1.OBJECT_IDENTIFIER) || len(req.policy) == 0 {
			return req, reject(timestamp.BadDataFormat, "the reqPolicy is not an object identifier")
		}
	}
	if tsr.PeekASN1Tag(cbasn1.INTEGER) {
		if !tsr.ReadASN1Bytes(&req.nonce, cbasn1.INTEGER) || !der.MinimalInteger(req.nonce) {
			return req, reject(timestamp.BadDataFormat, "the nonce is not a DER INTEGER")
		}
	}
	if tsr.PeekASN1Tag(tagCertReq) && !tsr.ReadASN1Boolean(&req.certReq) {
		return req, reject(timestamp.BadDataFormat, "certReq is not a DER BOOLEAN")
	}
	if tsr.PeekASN1Tag(tagExtensions) {
		var exts cryptobyte.String
		if !tsr.ReadASN1(&exts, tagExtensions) {
			return req, reject(timestamp.BadDataFormat, "%s", errNotDER)
		}
		if r := checkExtensions(exts); r != nil {
			return req, r
		}
	}
	if !tsr.Empty() {
		return req, reject(timestamp.BadDataFormat, "%s: unexpected data after the last field", errNotDER)
	}
	return req, nil
}

// checkExtensions: this TSA implements no request extension, so it
// refuses every one, critical or not. RFC 3161 §2.4.1: "If an extension
// ... is not recognized by the server, the server SHALL not issue a
// token and SHALL return a failure (unacceptedExtension)"; criticality
// does not soften that rule, unlike RFC 5280 §4.2 for certificates.
func checkExtensions(exts cryptobyte.String) *rejection {
	var (
		refused         []byte // OID contents of the extension named in the refusal
		refusedCritical bool
	)
	for !exts.Empty() {
		var (
			ext      cryptobyte.String
			oid      []byte
			value    []byte
			critical bool
		)
		// (cryptobyte's ReadOptionalASN1Boolean expects an explicit tag
		// around the BOOLEAN, so the DEFAULT FALSE is read by peeking.)
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1Bytes(&oid, cbasn1.OBJECT_IDENTIFIER) ||
			ext.PeekASN1Tag(cbasn1.BOOLEAN) && !ext.ReadASN1Boolean(&critical) ||
			!ext.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
			return reject(timestamp.BadDataFormat, "the request's extensions are not DER Extensions")
		}
		// Name a critical one first: that is the one the client cannot
		// just drop.
		if refused == nil || critical && !refusedCritical {
			refused, refusedCritical = oid, critical
		}
	}
	if refused == nil {
		return nil
	}
	kind := "extension"
	if refusedCritical {
		kind = "critical extension"
	}
	return reject(timestamp.UnacceptedExtension, "%s %s is not supported by this TSA; send the request without extensions", kind, oidText(refused))
}

// oidText spells OID contents in dotted decimal for messages, or says it
// cannot.
func oidText(contents []byte) string {
	var oid asn1.ObjectIdentifier
	der := append([]byte{0x06, byte(len(contents))}, contents...)
	if len(contents) > 127 {
		return "(an overlong object identifier)"
	}
	if _, err := asn1.Unmarshal(der, &oid); err != nil {
		return "(a malformed object identifier)"
	}
	return oid.String()
}
