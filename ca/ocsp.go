package ca

import (
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// OCSP response signing (RFC 6960 §4.2). The engine builds and signs
// BasicOCSPResponses itself, because x/crypto/ocsp cannot write response
// extensions (the nonce, RFC 8954) nor several SingleResponses; the ocsp
// package parses requests, decides what to sign when, and serves bytes.

// OCSPSingle is one SingleResponse to sign: the CertID's hash algorithm
// and serial (the issuer's hashes are the responder's), and the status.
type OCSPSingle struct {
	Hash   crypto.Hash // crypto.SHA1 or crypto.SHA256
	Serial *big.Int
	Status CertStatus
}

// SignedOCSP is a signed response body without its envelope:
// BasicOCSPResponse's tbsResponseData, signatureAlgorithm and signature,
// without the certs field and the outer headers. AppendOCSPResponse
// adds those. Keeping only this much is what lets the ocsp package hold a
// pre-signed response for each of a million certificates.
type SignedOCSP struct {
	Signed     []byte
	ProducedAt time.Time
	ThisUpdate time.Time
	NextUpdate time.Time
	// Certs is the certs field to send with Signed: the responder
	// certificate that signed it. It is shared, not copied, by every
	// response of the same responder certificate.
	Certs []byte
}

// OCSPResponder signs the OCSP responses of one issuing CA with the CA's
// delegated responder certificate (id-kp-OCSPSigning, ocsp-nocheck;
// RFC 6960 §4.2.2.2). It is safe for concurrent use. The responder
// certificate is renewed while the server runs (RenewOCSPResponders); a
// response carries the certificate that signed it.
type OCSPResponder struct {
	e      *Engine
	issuer *authority
	cur    atomic.Pointer[ocspSigner]
	// signers are every responder certificate this process has signed
	// with, by ResponderID, so that a response signed by another instance
	// (a shared store) is sent with the certificate that signed it.
	signers    sync.Map // string(responderID) -> *ocspSigner
	nameSHA1   []byte
	keySHA1    []byte
	nameSHA256 []byte
	keySHA256  []byte
}

// ocspSigner is one responder certificate with what signing needs.
type ocspSigner struct {
	responder *authority
	alg       sigAlg
	// responderID is the DER ResponderID byKey (RFC 6960 §4.2.2.3): the
	// SHA-1 of the responder's public key, 24 bytes instead of a Name.
	responderID []byte
	certs       []byte // DER of certs [0] EXPLICIT SEQUENCE OF Certificate
}

func newOCSPSigner(r *authority) (*ocspSigner, error) {
	alg, err := sigAlgFor(r.cert.PublicKey)
	if err != nil {
		return nil, err
	}
	rKey, err := spkiBits(r.cert.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, err
	}
	rHash := sha1.Sum(rKey)
	// ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }, explicit tags.
	id := appendTLV(nil, 0xa2, appendTLV(nil, tagOctetString, rHash[:]))
	certs := appendTLV(nil, 0xa0, appendTLV(nil, tagSequence, r.cert.Raw))
	if r.role == "intermediate" {
		// A CA answering for itself (a retired generation, rollover.go)
		// sends no certificate: the client holds the issuer's already,
		// and certs is for a delegated responder (RFC 6960 §4.2.1).
		certs = nil
	}
	return &ocspSigner{responder: r, alg: alg, responderID: id, certs: certs}, nil
}

// newOCSPResponder prepares the responder of issuing CA a, signing with r.
func newOCSPResponder(e *Engine, a, r *authority) (*OCSPResponder, error) {
	s, err := newOCSPSigner(r)
	if err != nil {
		return nil, err
	}
	iKey, err := spkiBits(a.cert.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, err
	}
	n1, k1 := sha1.Sum(a.cert.RawSubject), sha1.Sum(iKey)
	n256, k256 := sha256.Sum256(a.cert.RawSubject), sha256.Sum256(iKey)
	resp := &OCSPResponder{e: e, issuer: a, nameSHA1: n1[:], keySHA1: k1[:], nameSHA256: n256[:], keySHA256: k256[:]}
	resp.use(s)
	return resp, nil
}

// use makes s the signer of new responses.
func (r *OCSPResponder) use(s *ocspSigner) {
	r.signers.Store(string(s.responderID), s)
	r.cur.Store(s)
}

// CertsFor returns the certs field to send with a response body signed by
// one of this responder's certificates (the current one or one it was
// renewed from), and false for a body this process cannot vouch for: an
// unknown responder, or not a tbsResponseData at all.
func (r *OCSPResponder) CertsFor(signed []byte) ([]byte, bool) {
	in := cryptobyte.String(signed)
	var tbs, id cryptobyte.String
	var tag cbasn1.Tag
	if !in.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!tbs.ReadAnyASN1Element(&id, &tag) {
		return nil, false
	}
	s, ok := r.signers.Load(string(id))
	if !ok {
		return nil, false
	}
	return s.(*ocspSigner).certs, true
}

// OCSPResponder returns the responder of an issuing CA generation, by its
// GenerationIssuer key (OCSPIssuers lists them; the key of a CA's first
// generation is its name); every call for the same key returns the same
// responder.
func (e *Engine) OCSPResponder(issuer string) (*OCSPResponder, error) {
	set := e.set.Load()
	if a, ok := set.gens[issuer]; !ok || a.role != "intermediate" {
		return nil, fmt.Errorf("no issuing CA named %q", issuer)
	}
	r, ok := set.ocsp[issuer]
	if !ok {
		return nil, fmt.Errorf("the issuing CA %q has no OCSP responder certificate", issuer)
	}
	return r, nil
}

// Issuer is the CA whose certificates this responder answers for.
func (r *OCSPResponder) Issuer() *x509.Certificate { return r.issuer.cert }

// IssuerName is the engine's key of that CA generation ("services",
// "services_2", ...: GenerationIssuer), the issuer its certificates are
// stored under.
func (r *OCSPResponder) IssuerName() string { return r.issuer.key }

// Certificate is the delegated responder certificate signing now.
func (r *OCSPResponder) Certificate() *x509.Certificate { return r.cur.Load().responder.cert }

// Certs is the DER of the certs field of the responses signed now: the
// responder certificate, which the client needs to verify the signature.
func (r *OCSPResponder) Certs() []byte { return r.cur.Load().certs }

// IssuerHashes returns the CertID issuerNameHash and issuerKeyHash of
// this responder's CA for a hash algorithm (RFC 6960 §4.1.1), and false
// for an algorithm the engine does not sign CertIDs with.
func (r *OCSPResponder) IssuerHashes(h crypto.Hash) (name, key []byte, ok bool) {
	switch h {
	case crypto.SHA1:
		return r.nameSHA1, r.keySHA1, true
	case crypto.SHA256:
		return r.nameSHA256, r.keySHA256, true
	}
	return nil, nil, false
}

// Sign signs one response with the given SingleResponses, valid for
// validity from now, echoing nonce (the request's nonce extnValue, RFC
// 8954) when it is not nil.
func (r *OCSPResponder) Sign(ctx context.Context, singles []OCSPSingle, nonce []byte, validity time.Duration) (SignedOCSP, error) {
	if len(singles) == 0 {
		return SignedOCSP{}, fmt.Errorf("an OCSP response needs at least one SingleResponse")
	}
	now := r.e.cfg.Now().UTC().Truncate(time.Second)
	cur := r.cur.Load()
	out := SignedOCSP{ProducedAt: now, ThisUpdate: now, NextUpdate: now.Add(validity), Certs: cur.certs}
	var responses []byte
	for _, s := range singles {
		sr, err := r.appendSingle(nil, s, out.ThisUpdate, out.NextUpdate)
		if err != nil {
			return SignedOCSP{}, err
		}
		responses = append(responses, sr...)
	}
	// ResponseData ::= SEQUENCE { version [0] DEFAULT v1 (omitted),
	// responderID, producedAt, responses, responseExtensions [1] OPTIONAL }
	var body []byte
	body = append(body, cur.responderID...)
	body = appendGeneralizedTime(body, out.ProducedAt)
	body = appendTLV(body, tagSequence, responses)
	if nonce != nil {
		// Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }
		ext := appendTLV(nil, tagSequence, derOIDNonce, appendTLV(nil, tagOctetString, nonce))
		body = appendTLV(body, 0xa1, appendTLV(nil, tagSequence, ext))
	}
	tbs := appendTLV(make([]byte, 0, len(body)+4), tagSequence, body)
	key, err := r.e.keys.Signer(ctx, cur.responder.keyID)
	if err != nil {
		return SignedOCSP{}, err
	}
	sig, err := cur.alg.sign(key, tbs)
	r.e.metrics.signature("ocsp", cur.responder.name, err)
	if err != nil {
		return SignedOCSP{}, fmt.Errorf("signing an OCSP response with %s: %w", cur.responder.name, err)
	}
	signed := make([]byte, 0, len(tbs)+len(cur.alg.algID)+len(sig)+5)
	signed = append(signed, tbs...)
	signed = append(signed, cur.alg.algID...)
	out.Signed = appendBitString(signed, sig)
	return out, nil
}

// appendSingle writes one SingleResponse (RFC 6960 §4.2.1).
func (r *OCSPResponder) appendSingle(dst []byte, s OCSPSingle, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	nameHash, keyHash, ok := r.IssuerHashes(s.Hash)
	if !ok {
		return nil, fmt.Errorf("CertIDs with %v are not supported", s.Hash)
	}
	if s.Serial == nil || s.Serial.Sign() < 0 {
		return nil, fmt.Errorf("a CertID needs a non-negative serial")
	}
	alg := derOIDSHA1
	if s.Hash == crypto.SHA256 {
		alg = derOIDSHA256
	}
	var certID []byte
	certID = appendTLV(certID, tagSequence, alg, derNull)
	certID = appendTLV(certID, tagOctetString, nameHash)
	certID = appendTLV(certID, tagOctetString, keyHash)
	certID = appendBigSerial(certID, s.Serial)

	var body []byte
	body = appendTLV(body, tagSequence, certID)
	switch s.Status.Status {
	case Good:
		body = append(body, 0x80, 0) // good [0] IMPLICIT NULL
	case Revoked:
		// revoked [1] IMPLICIT RevokedInfo { revocationTime,
		// revocationReason [0] EXPLICIT CRLReason OPTIONAL }; like a CRL
		// entry, no reason rather than "unspecified" (RFC 5280 §5.3.1).
		info := appendGeneralizedTime(nil, s.Status.RevokedAt)
		if s.Status.Reason != Unspecified {
			info = appendTLV(info, 0xa0, []byte{tagEnumerated, 1, byte(s.Status.Reason)})
		}
		body = appendTLV(body, 0xa1, info)
	case Unknown:
		body = append(body, 0x82, 0) // unknown [2] IMPLICIT NULL
	default:
		return nil, fmt.Errorf("status %d is not an OCSP status", s.Status.Status)
	}
	body = appendGeneralizedTime(body, thisUpdate)
	body = appendTLV(body, 0xa0, appendGeneralizedTime(nil, nextUpdate))
	return appendTLV(dst, tagSequence, body), nil
}

// id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2 and id-pkix-ocsp-basic 1.3.6.1.5.5.7.48.1.1.
var (
	derOIDNonce = []byte{tagOID, 9, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02}
	derOIDBasic = []byte{tagOID, 9, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01}
)

// AppendOCSPResponse appends a successful OCSPResponse (RFC 6960 §4.2.1)
// made of a signed body and the certs field:
//
//	OCSPResponse { responseStatus successful(0), responseBytes [0] EXPLICIT
//	  ResponseBytes { id-pkix-ocsp-basic, OCTET STRING { BasicOCSPResponse {
//	    signed..., certs } } } }
//
// It copies bytes and writes lengths only: the hot path of the responder.
func AppendOCSPResponse(dst, signed, certs []byte) []byte {
	basic := len(signed) + len(certs)
	octets := headerLen(basic) + basic
	respBytes := len(derOIDBasic) + headerLen(octets) + octets
	explicit := headerLen(respBytes) + respBytes
	outer := 3 + headerLen(explicit) + explicit
	dst = appendHeader(dst, tagSequence, outer)
	dst = append(dst, tagEnumerated, 1, 0)
	dst = appendHeader(dst, 0xa0, respBytes+headerLen(respBytes))
	dst = appendHeader(dst, tagSequence, respBytes)
	dst = append(dst, derOIDBasic...)
	dst = appendHeader(dst, tagOctetString, octets)
	dst = appendHeader(dst, tagSequence, basic)
	dst = append(dst, signed...)
	return append(dst, certs...)
}

// OCSPResponseSize is the length AppendOCSPResponse will add.
func OCSPResponseSize(signed, certs []byte) int {
	basic := len(signed) + len(certs)
	octets := headerLen(basic) + basic
	respBytes := len(derOIDBasic) + headerLen(octets) + octets
	explicit := headerLen(respBytes) + respBytes
	outer := 3 + headerLen(explicit) + explicit
	return headerLen(outer) + outer
}
