package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// Time-stamping (RFC 3161 §2.4.2, RFC 5816): the engine allocates the
// serial, reads the clock, signs the TSTInfo with the TSA key and records
// the token; the tsa front end parses requests and decides the policy.

// TimestampRequest is one accepted time-stamp request. The front end has
// parsed it; the engine checks what it writes into the token again.
type TimestampRequest struct {
	Hash crypto.Hash // of the message imprint: SHA-256, -384 or -512
	// HashParamsAbsent: the request's AlgorithmIdentifier had no NULL
	// parameters. The token's messageImprint must be the request's
	// (RFC 3161 §2.4.2), so it is written the same way.
	HashParamsAbsent bool
	Digest           []byte
	// Nonce holds the contents of the request's nonce INTEGER (minimal
	// two's complement), nil when the request has none.
	Nonce    []byte
	Policy   TimestampPolicy
	Accuracy time.Duration // 0 for none; a whole number of microseconds
	// CertReq asks for the TSA certificate and its chain in the token
	// (RFC 3161 §2.4.1 certReq).
	CertReq bool
}

// Timestamped is a granted time-stamp.
type Timestamped struct {
	Serial int64
	Time   time.Time // genTime, as written in the token
	DER    []byte    // the whole TimeStampResp, status granted
}

// TimestampPolicy is a TSA policy OID, encoded once.
type TimestampPolicy struct {
	der  []byte
	text string
}

// NewTimestampPolicy checks and encodes a TSA policy OID. x509.OID, unlike
// asn1.ObjectIdentifier, holds arcs beyond 64 bits, such as the UUID arcs
// under 2.25.
func NewTimestampPolicy(oid x509.OID) (TimestampPolicy, error) {
	contents, err := oid.MarshalBinary()
	if err != nil || len(contents) == 0 || len(contents) > 127 {
		return TimestampPolicy{}, fmt.Errorf("%v is not a usable object identifier", oid)
	}
	return TimestampPolicy{der: appendTLV(nil, tagOID, contents), text: oid.String()}, nil
}

func (p TimestampPolicy) String() string { return p.text }

// DER returns the policy's encoding (tag, length and contents); callers
// must not modify it.
func (p TimestampPolicy) DER() []byte { return p.der }

// HashName names a message imprint algorithm in records and messages.
func HashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	}
	return h.String()
}

// serialBlock is how many serials an engine reserves at a time. Serials
// of a block left unused when the process stops are never used.
const serialBlock = 1 << 14

// timestamper holds the TSA key and everything of a token that never
// changes, encoded once.
type timestamper struct {
	records store.TimestampStore
	signer  crypto.Signer
	cert    *x509.Certificate
	sigHash crypto.Hash // CMS digest algorithm, fixed by the key
	// Encoded parts: digestAlgorithm, signatureAlgorithm, the signer's
	// IssuerAndSerialNumber, the certificates field ([0] IMPLICIT SET OF)
	// and TSTInfo.tsa ([0] directoryName).
	digestAlg, sigAlg, sid, certs, tsaName []byte
	// attrs is the signedAttrs field ([0] IMPLICIT SET OF Attribute) with
	// a zero messageDigest at attrDigestAt, filled in per token.
	attrs        []byte
	attrDigestAt int
	// imprintAlgs are the messageImprint AlgorithmIdentifiers per hash,
	// with NULL parameters ([0]) and without ([1]).
	imprintAlgs map[crypto.Hash][2][]byte

	mu               sync.Mutex
	nextSerial, last int64 // serials nextSerial..last are reserved and unused
	scratch          sync.Pool
}

// EnableTimestamps prepares the engine to sign time-stamp tokens with the
// TSA key of the hierarchy, recording every token in records.
func (e *Engine) EnableTimestamps(ctx context.Context, records store.TimestampStore) error {
	a := e.ca(TSAName)
	if a == nil {
		return fmt.Errorf("the hierarchy has no TSA certificate")
	}
	if err := checkTSACert(a.cert); err != nil {
		return err
	}
	if e.keys == nil {
		return fmt.Errorf("the engine was opened without keys")
	}
	signer, err := e.keys.Signer(ctx, a.keyID)
	if err != nil {
		return fmt.Errorf("the TSA key: %w", err)
	}
	t, err := newTimestamper(a, signer, records)
	if err != nil {
		return err
	}
	e.tsa.Store(t)
	return nil
}

// checkTSACert: RFC 3161 §2.3 wants the extended key usage to hold only
// id-kp-timeStamping and to be critical; OpenSSL refuses tokens otherwise.
func checkTSACert(c *x509.Certificate) error {
	for _, ext := range c.Extensions {
		if ext.Id.Equal(oidExtKeyUsage) {
			var ekus []asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(ext.Value, &ekus); err != nil || !ext.Critical || len(ekus) != 1 || !ekus[0].Equal(oidTimeStamp) {
				return fmt.Errorf("the TSA certificate's extended key usage must be critical and hold only id-kp-timeStamping")
			}
			return nil
		}
	}
	return fmt.Errorf("the TSA certificate has no extended key usage")
}

func newTimestamper(a *authority, signer crypto.Signer, records store.TimestampStore) (*timestamper, error) {
	cert := a.cert
	sigHash, sigAlg, err := signatureAlgorithm(signer.Public())
	if err != nil {
		return nil, err
	}
	serial := mustMarshal(cert.SerialNumber)
	t := &timestamper{
		records:     records,
		signer:      signer,
		cert:        cert,
		sigHash:     sigHash,
		digestAlg:   algorithmID(hashOIDFor(sigHash), false), // RFC 5754 §2: absent parameters
		sigAlg:      sigAlg,
		sid:         tlv(tagSequence, cert.RawIssuer, serial),
		tsaName:     tlv(tagCtx0, tlv(tagCtx4, cert.RawSubject)),
		imprintAlgs: map[crypto.Hash][2][]byte{},
	}
	for h, oid := range hashOIDs {
		t.imprintAlgs[h] = [2][]byte{algorithmID(oid, true), algorithmID(oid, false)}
	}
	raws := [][]byte{cert.Raw}
	for _, c := range chainFrom(a.parent) {
		raws = append(raws, c.Raw)
	}
	t.certs = tlv(tagCtx0, derSetOf(raws...)...)

	// signedAttrs (RFC 5652 §5.3): contentType, messageDigest and, for
	// RFC 5816, signingCertificateV2 naming the TSA certificate by its
	// SHA-256 hash (the default hashAlgorithm, so left out) and issuer
	// and serial.
	certHash := sha256.Sum256(cert.Raw)
	essCertIDv2 := tlv(tagSequence,
		tlv(tagOctetString, certHash[:]),
		tlv(tagSequence, tlv(tagSequence, tlv(tagCtx4, cert.RawIssuer)), serial))
	signingCertV2 := tlv(tagSequence, tlv(tagSequence, essCertIDv2))
	attr := func(oid asn1.ObjectIdentifier, value []byte) []byte {
		return tlv(tagSequence, mustMarshal(oid), tlv(tagSet, value))
	}
	zeroDigest := make([]byte, sigHash.Size())
	digestAttr := attr(oidAttrMessageDigest, tlv(tagOctetString, zeroDigest))
	attrs := derSetOf(
		attr(oidAttrContentType, mustMarshal(oidTSTInfo)),
		digestAttr,
		attr(oidAttrSigningCertV2, signingCertV2),
	)
	t.attrs = tlv(tagCtx0, attrs...)
	// The digest is the last bytes of its attribute, whose encoding is
	// unique in the set.
	at := bytes.Index(t.attrs, digestAttr)
	if at < 0 {
		return nil, errors.New("building signed attributes")
	}
	t.attrDigestAt = at + len(digestAttr) - len(zeroDigest)
	t.scratch.New = func() any { b := make([]byte, 0, 1024); return &b }
	return t, nil
}

func hashOIDFor(h crypto.Hash) asn1.ObjectIdentifier { return hashOIDs[h] }

// Timestamp signs a time-stamp token for req and returns it once its
// record is durable. Refusals are *caerr.Error values: Malformed for what
// the request should not have carried, Unavailable when time-stamping is
// not enabled or the TSA certificate is not valid now.
func (e *Engine) Timestamp(ctx context.Context, req TimestampRequest) (Timestamped, error) {
	got, rec, err := e.SignTimestamp(ctx, req)
	if err != nil {
		return Timestamped{}, err
	}
	// The token leaves only after its record has committed (group commit
	// shares that transaction with concurrent requests).
	t := e.tsa.Load()
	if err := t.records.RecordTimestamp(context.WithoutCancel(ctx), rec); err != nil {
		return Timestamped{}, fmt.Errorf("recording time-stamp %d: %w", got.Serial, err)
	}
	return got, nil
}

// SignTimestamp is Timestamp without the record: it returns the token and
// the record the caller must make durable before the token leaves, in
// the transaction of what the token stamps (POST /api/v1/sign records it
// with the signature: store.SignatureStore.RecordStampedSignature). A
// token whose record is never written is never handed out; its serial
// stays unused, as those of a reserved block are after a restart.
func (e *Engine) SignTimestamp(ctx context.Context, req TimestampRequest) (Timestamped, store.TimestampRecord, error) {
	t := e.tsa.Load()
	if t == nil {
		return Timestamped{}, store.TimestampRecord{}, caerr.New(caerr.Unavailable, "time-stamping is not enabled")
	}
	if err := checkTimestampRequest(t, &req); err != nil {
		return Timestamped{}, store.TimestampRecord{}, err
	}
	now := e.cfg.Now().UTC().Truncate(time.Microsecond)
	if now.Before(t.cert.NotBefore) || now.After(t.cert.NotAfter) {
		return Timestamped{}, store.TimestampRecord{}, caerr.New(caerr.Unavailable, "the TSA certificate is not valid at %s", now.Format(time.RFC3339))
	}
	serial, err := t.serial(ctx)
	if err != nil {
		return Timestamped{}, store.TimestampRecord{}, fmt.Errorf("reserving time-stamp serials: %w", err)
	}
	der, err := t.sign(req, serial, now)
	e.metrics.signature("timestamp", TSAName, err)
	if err != nil {
		return Timestamped{}, store.TimestampRecord{}, err
	}
	rec := store.TimestampRecord{Serial: serial, Time: now, Hash: HashName(req.Hash), Imprint: req.Digest, Policy: req.Policy.text}
	return Timestamped{Serial: serial, Time: now, DER: der}, rec, nil
}

func checkTimestampRequest(t *timestamper, req *TimestampRequest) error {
	if _, ok := t.imprintAlgs[req.Hash]; !ok {
		return caerr.New(caerr.Malformed, "message imprints with %s are not time-stamped", HashName(req.Hash))
	}
	if len(req.Digest) != req.Hash.Size() {
		return caerr.New(caerr.Malformed, "the %s digest has %d bytes, not %d", HashName(req.Hash), len(req.Digest), req.Hash.Size())
	}
	if n := req.Nonce; n != nil && (len(n) == 0 || len(n) > 1 && (n[0] == 0 && n[1]&0x80 == 0 || n[0] == 0xff && n[1]&0x80 != 0)) {
		return caerr.New(caerr.Malformed, "the nonce is not a DER INTEGER")
	}
	if req.Policy.der == nil {
		return errors.New("time-stamp request without a policy")
	}
	if req.Accuracy < 0 || req.Accuracy%time.Microsecond != 0 {
		return fmt.Errorf("accuracy %v is not a whole number of microseconds", req.Accuracy)
	}
	return nil
}

// serial hands out the next reserved serial, reserving a new block when
// the current one is used up. Blocks are durable before use, so serials
// stay unique across restarts and across engines sharing the store.
func (t *timestamper) serial(ctx context.Context) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nextSerial == 0 || t.nextSerial > t.last {
		first, err := t.records.ReserveTimestampSerials(ctx, serialBlock)
		if err != nil {
			return 0, err
		}
		t.nextSerial, t.last = first, first+serialBlock-1
	}
	s := t.nextSerial
	t.nextSerial++
	return s, nil
}

// sign builds the TSTInfo, signs it in a CMS SignedData (RFC 5652 §5) and
// returns the TimeStampResp (RFC 3161 §2.4.2).
func (t *timestamper) sign(req TimestampRequest, serial int64, now time.Time) ([]byte, error) {
	bp := t.scratch.Get().(*[]byte)
	defer t.scratch.Put(bp)
	b := (*bp)[:0]

	// TSTInfo.
	var genTimeBuf, accuracyBuf [24]byte
	genTime := appendFractionalTime(genTimeBuf[:0], now)
	imprintAlg := t.imprintAlgs[req.Hash][0]
	if req.HashParamsAbsent {
		imprintAlg = t.imprintAlgs[req.Hash][1]
	}
	imprintLen := len(imprintAlg) + tlvSize(len(req.Digest))
	accuracy := appendAccuracy(accuracyBuf[:0], req.Accuracy)
	n := 3 + len(req.Policy.der) + tlvSize(imprintLen) + tlvSize(uintSize(uint64(serial))) + tlvSize(len(genTime)) + len(t.tsaName)
	if len(accuracy) > 0 {
		n += tlvSize(len(accuracy))
	}
	if req.Nonce != nil {
		n += tlvSize(len(req.Nonce))
	}
	b = appendHeader(b, tagSequence, n)
	b = append(b, tagInteger, 1, 1) // version v1
	b = append(b, req.Policy.der...)
	b = appendHeader(b, tagSequence, imprintLen)
	b = append(b, imprintAlg...)
	b = appendTLV(b, tagOctetString, req.Digest)
	b = appendHeader(b, tagInteger, uintSize(uint64(serial)))
	b = appendUint(b, uint64(serial))
	b = appendTLV(b, tagGenTime, genTime)
	if len(accuracy) > 0 {
		b = appendTLV(b, tagSequence, accuracy)
	}
	// ordering is FALSE, the DEFAULT, so DER leaves it out.
	if req.Nonce != nil {
		b = appendTLV(b, tagInteger, req.Nonce)
	}
	b = append(b, t.tsaName...)
	tst := b

	// signedAttrs with this token's messageDigest. The signature covers
	// them re-tagged as a SET (RFC 5652 §5.4).
	b = append(b, t.attrs...)
	attrs := b[len(tst):]
	var digestBuf [64]byte
	copy(attrs[t.attrDigestAt:], sum(t.sigHash, tst, digestBuf[:0]))
	attrs[0] = tagSet
	digest := sum(t.sigHash, attrs, digestBuf[:0])
	attrs[0] = tagCtx0
	sig, err := t.signer.Sign(rand.Reader, digest, t.sigHash)
	if err != nil {
		return nil, fmt.Errorf("signing a time-stamp with the TSA key: %w", err)
	}
	*bp = b // keep a grown buffer

	// SignerInfo, SignedData, ContentInfo, TimeStampResp, outside in.
	signerInfo := 3 + len(t.sid) + len(t.digestAlg) + len(attrs) + len(t.sigAlg) + tlvSize(len(sig))
	eContent := tlvSize(len(tst))
	encap := len(mustOIDTSTInfo) + tlvSize(eContent)
	signedData := 3 + tlvSize(len(t.digestAlg)) + tlvSize(encap) + tlvSize(tlvSize(signerInfo))
	if req.CertReq {
		signedData += len(t.certs)
	}
	contentInfo := len(mustOIDSignedData) + tlvSize(tlvSize(signedData))
	resp := len(grantedStatus) + tlvSize(contentInfo)

	out := make([]byte, 0, tlvSize(resp))
	out = appendHeader(out, tagSequence, resp)
	out = append(out, grantedStatus...)
	out = appendHeader(out, tagSequence, contentInfo)
	out = append(out, mustOIDSignedData...)
	out = appendHeader(out, tagCtx0, tlvSize(signedData))
	out = appendHeader(out, tagSequence, signedData)
	out = append(out, tagInteger, 1, 3) // version 3: eContentType is not id-data
	out = appendTLV(out, tagSet, t.digestAlg)
	out = appendHeader(out, tagSequence, encap)
	out = append(out, mustOIDTSTInfo...)
	out = appendHeader(out, tagCtx0, eContent)
	out = appendTLV(out, tagOctetString, tst)
	if req.CertReq {
		out = append(out, t.certs...)
	}
	out = appendHeader(out, tagSet, tlvSize(signerInfo))
	out = appendHeader(out, tagSequence, signerInfo)
	out = append(out, tagInteger, 1, 1) // version 1: issuerAndSerialNumber
	out = append(out, t.sid...)
	out = append(out, t.digestAlg...)
	out = append(out, attrs...)
	out = append(out, t.sigAlg...)
	out = appendTLV(out, tagOctetString, sig)
	if len(out) != cap(out) {
		return nil, fmt.Errorf("time-stamp encoding: %d bytes written, %d computed", len(out), cap(out))
	}
	return out, nil
}

var (
	mustOIDTSTInfo    = mustMarshal(oidTSTInfo)
	mustOIDSignedData = mustMarshal(oidSignedData)
	// PKIStatusInfo { status granted(0) }
	grantedStatus = []byte{tagSequence, 3, tagInteger, 1, 0}
)
