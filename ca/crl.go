package ca

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// CRL is a signed CRL (RFC 5280 §5) held as the pieces it was written
// in: a list of a million entries is encoded once, into chunks, and never
// copied into one more buffer, also not to sign it (only its hash is
// computed) nor to serve it (WriteTo).
type CRL struct {
	Issuer     string
	Shard      int // 0 for the issuer's full CRL
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
	parts      [][]byte
	size       int
}

// Size is the CRL's length in bytes.
func (c *CRL) Size() int { return c.size }

// WriteTo writes the DER CRL.
func (c *CRL) WriteTo(w io.Writer) (int64, error) {
	bufs := net.Buffers(append([][]byte(nil), c.parts...))
	return bufs.WriteTo(w)
}

// Bytes returns the DER CRL in one new slice.
func (c *CRL) Bytes() []byte {
	out := make([]byte, 0, c.size)
	for _, p := range c.parts {
		out = append(out, p...)
	}
	return out
}

// CRLShards is the configured shard count (0: no shards).
func (e *Engine) CRLShards() int { return e.cfg.CRLShards }

// CRLValidity is nextUpdate - thisUpdate of the CRLs the engine signs.
func (e *Engine) CRLValidity() time.Duration { return e.cfg.CRLValidity }

// CRLIssuers are the CAs that publish CRLs: the root (for the issuing
// CAs) and the issuing CAs this hierarchy has (an older one may lack the
// Admin CA).
// CA generations that sign CRLs now (GenerationIssuer keys: a retired
// generation publishes its CRL until its certificate expires; rollover.go).
func (e *Engine) CRLIssuers() []string {
	out := []string{RootCA}
	for _, a := range e.liveGenerations() {
		out = append(out, a.key)
	}
	return out
}

// assignCRLShard picks the CRL shard of a certificate about to be issued,
// at random as Let's Encrypt does, and points its CRL distribution point
// at that shard. It returns 0, and leaves the full CRL's URL, when the
// engine is not configured for shards.
func (e *Engine) assignCRLShard(tmpl *x509.Certificate, issuer string) int {
	if e.cfg.CRLShards == 0 {
		return 0
	}
	shard := 1 + rand.IntN(e.cfg.CRLShards)
	tmpl.CRLDistributionPoints = []string{e.cfg.crlShardURL(issuer, shard)}
	return shard
}

// CRL builds and signs the full CRL of the named CA.
func (e *Engine) CRL(ctx context.Context, issuer string) ([]byte, error) {
	c, err := e.BuildCRL(ctx, issuer, 0)
	if err != nil {
		return nil, err
	}
	return c.Bytes(), nil
}

// BuildCRL builds and signs a CRL of the named CA: its full CRL (shard 0)
// or one shard (1 to CRLShards). It streams the revoked certificates from
// the store and encodes them as they come: a new CRL number each time,
// thisUpdate now, nextUpdate after the configured validity, a reason code
// on every entry that has one, and an issuing distribution point naming
// the URL the certificates carry (RFC 5280 §5.2.5). Entries of
// certificates that expired more than one CRL period ago are left out:
// they were on at least one CRL issued after they expired (RFC 5280 §3.3).
func (e *Engine) BuildCRL(ctx context.Context, issuer string, shard int) (*CRL, error) {
	a := e.gen(issuer)
	if a == nil || (a.role != "intermediate" && a.role != "root") {
		return nil, caerr.New(caerr.NotFound, "no CA named %q publishes a CRL", issuer)
	}
	if shard < 0 || (shard > 0 && (a.role == "root" || shard > e.cfg.CRLShards)) {
		return nil, caerr.New(caerr.NotFound, "CA %q has no CRL shard %d", issuer, shard)
	}
	if a == e.root && e.offline.on {
		return e.offlineRootCRL() // signed in a ceremony, imported (ceremony_engine.go)
	}
	key, err := e.keys.Signer(ctx, a.keyID)
	if err != nil {
		return nil, err
	}
	alg, err := sigAlgFor(a.cert.PublicKey)
	if err != nil {
		return nil, err
	}
	now := e.cfg.Now().UTC().Truncate(time.Second)
	keepAfter := now.Add(-e.cfg.CRLValidity)
	entries := &chunkWriter{}
	var serial [32]byte
	add := func(r store.Revoked) error {
		if r.NotAfter.Before(keepAfter) {
			return nil
		}
		n, err := hex.Decode(serial[:], []byte(r.Serial))
		if err != nil || n == 0 || n > 20 {
			return fmt.Errorf("stored serial %q is not 1 to 20 bytes of hex", r.Serial)
		}
		entries.add(appendCRLEntry(entries.room(96), serial[:n], r.RevokedAt, RevocationReason(r.Reason)))
		return nil
	}
	ss, ssErr := e.statusStore()
	switch {
	case shard > 0 && ssErr != nil:
		err = ssErr
	case shard > 0:
		err = ss.RevokedInShard(ctx, issuer, shard, add)
	case ssErr == nil:
		// The full CRL from a covering index, in (shard, serial) order.
		err = ss.RevokedInShard(ctx, issuer, store.AllShards, add)
	default:
		err = e.store.RevokedCertificates(ctx, issuer, add)
	}
	if err == nil && shard == 0 {
		// The CA certificates this CA signed and revoked (RevokeCA).
		err = e.revokedChildren(ctx, issuer, func(s *big.Int, r store.CARecord, _ *authority) error {
			entries.add(appendCRLEntry(entries.room(96), s.Bytes(), r.RevokedAt, RevocationReason(r.RevocationReason)))
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	num, err := e.store.NextCRLNumber(ctx, issuer)
	if err != nil {
		return nil, err
	}
	crl := &CRL{Issuer: issuer, Shard: shard, Number: num, ThisUpdate: now, NextUpdate: now.Add(e.cfg.CRLValidity), Entries: entries.count}

	// TBSCertList ::= SEQUENCE { version v2, signature, issuer, thisUpdate,
	// nextUpdate, revokedCertificates OPTIONAL, crlExtensions [0] }
	var head []byte
	head = append(head, tagInteger, 1, 1)
	head = append(head, alg.algID...)
	head = append(head, a.cert.RawSubject...)
	head = appendTime(head, crl.ThisUpdate)
	head = appendTime(head, crl.NextUpdate)
	// An empty list is absent, not an empty SEQUENCE (RFC 5280 §5.1.2.6).
	var listHeader []byte
	if entries.size > 0 {
		listHeader = appendHeader(nil, tagSequence, entries.size)
	}
	exts := appendTLV(nil, 0xa0, appendTLV(nil, tagSequence, e.crlExtensions(a, shard, num)...))
	tbsLen := len(head) + len(listHeader) + entries.size + len(exts)
	tbsHeader := appendHeader(nil, tagSequence, tbsLen)

	tbsParts := append([][]byte{tbsHeader, head, listHeader}, entries.chunks...)
	tbsParts = append(tbsParts, exts)
	sig, err := alg.sign(key, tbsParts...)
	e.metrics.signature("crl", issuer, err)
	if err != nil {
		return nil, fmt.Errorf("signing the CRL of %s: %w", issuer, err)
	}
	// CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
	tail := append(append([]byte{}, alg.algID...), appendBitString(nil, sig)...)
	total := len(tbsHeader) + tbsLen + len(tail)
	first := appendHeader(nil, tagSequence, total)
	first = append(first, tbsHeader...)
	first = append(first, head...)
	first = append(first, listHeader...)
	crl.parts = append([][]byte{first}, entries.chunks...)
	crl.parts = append(crl.parts, append(exts, tail...))
	crl.size = headerLen(total) + total
	return crl, nil
}

// crlExtensions: authority key identifier and CRL number (both required,
// RFC 5280 §5.2.1, §5.2.3), and the issuing distribution point (§5.2.5,
// critical) when the certificates name this CRL's URL. With shards, the
// full CRL has none: it covers every certificate of the issuer, also
// those issued before sharding, whose distribution point it is.
func (e *Engine) crlExtensions(a *authority, shard int, number int64) [][]byte {
	aki := appendTLV(nil, tagSequence, appendTLV(nil, 0x80, a.cert.SubjectKeyId))
	numDER := appendBigSerial(nil, big.NewInt(number))
	exts := [][]byte{
		appendTLV(nil, tagSequence, derOIDAKI, appendTLV(nil, tagOctetString, aki)),
		appendTLV(nil, tagSequence, derOIDCRLNumber, appendTLV(nil, tagOctetString, numDER)),
	}
	var url string
	var scope []byte
	switch {
	case a.role == "root":
		// The root's CRL lists CA certificates only: an ARL. Its IDP
		// names no distribution point (RFC 5280 §5.2.5 makes it
		// optional): the root certificate has no CRL distribution point
		// to match one, and OpenSSL's -crl_check_all, which checks the
		// root too, refuses it then ("different CRL scope").
		idp := appendTLV(nil, tagSequence, []byte{0x82, 1, 0xff}) // onlyContainsCACerts [2]
		return append(exts, appendTLV(nil, tagSequence, derOIDIDP, derTrue, appendTLV(nil, tagOctetString, idp)))
	case shard == 0 && a.cert.MaxPathLen > 0:
		// A CA with issuing CAs below it (ca create --path-len 1) lists
		// both kinds on its full CRL: an IDP with neither scope flag.
		url = e.cfg.crlURL(a.key)
	case shard > 0:
		url, scope = e.cfg.crlShardURL(a.key, shard), []byte{0x81, 1, 0xff} // onlyContainsUserCerts [1]
	case e.cfg.CRLShards == 0:
		url, scope = e.cfg.crlURL(a.key), []byte{0x81, 1, 0xff}
	default:
		return exts
	}
	// distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } }
	dp := appendTLV(nil, 0xa0, appendTLV(nil, 0xa0, appendTLV(nil, 0x86, []byte(url))))
	idp := appendTLV(nil, tagSequence, dp, scope)
	return append(exts, appendTLV(nil, tagSequence, derOIDIDP, derTrue, appendTLV(nil, tagOctetString, idp)))
}

// appendCRLEntry writes one revokedCertificates entry: serial,
// revocationDate and, unless unspecified, the reasonCode extension
// (RFC 5280 §5.3.1: absent rather than unspecified).
func appendCRLEntry(dst []byte, serial []byte, at time.Time, reason RevocationReason) []byte {
	var body [96]byte
	b := appendSerial(body[:0], serial)
	b = appendTime(b, at)
	if reason != Unspecified {
		ext := [...]byte{tagSequence, 12, tagSequence, 10, 0x06, 0x03, 0x55, 0x1d, 0x15, tagOctetString, 3, tagEnumerated, 1, byte(reason)}
		b = append(b, ext[:]...)
	}
	return appendTLV(dst, tagSequence, b)
}

// chunkWriter collects encoded entries in chunks of at most chunkSize
// bytes, so that growing never copies what is already written.
type chunkWriter struct {
	chunks [][]byte
	size   int
	count  int
}

const chunkSize = 1 << 20

// room returns the current chunk, with at least n bytes of capacity left.
func (w *chunkWriter) room(n int) []byte {
	if len(w.chunks) == 0 || cap(w.chunks[len(w.chunks)-1])-len(w.chunks[len(w.chunks)-1]) < n {
		w.chunks = append(w.chunks, make([]byte, 0, chunkSize))
	}
	return w.chunks[len(w.chunks)-1]
}

// add records that the current chunk is now b (room's slice, appended to).
func (w *chunkWriter) add(b []byte) {
	last := &w.chunks[len(w.chunks)-1]
	w.size += len(b) - len(*last)
	w.count++
	*last = b
}
