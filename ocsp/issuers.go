package ocsp

import (
	"bytes"
	"crypto"
	"sync/atomic"

	"github.com/vcc/vccpki/ca"
)

// issuer is one issuing CA the responder answers for, with a table of
// pre-signed responses per CertID hash algorithm.
type issuer struct {
	name      string
	responder *ca.OCSPResponder
	tables    map[crypto.Hash]*atomic.Pointer[table]
}

// supportedHashes are the CertID hash algorithms answered (RFC 6960
// §4.1.1 requires SHA-1 support; RFC 5019bis recommends SHA-256).
var supportedHashes = []crypto.Hash{crypto.SHA1, crypto.SHA256}

func newIssuer(name string, r *ca.OCSPResponder) *issuer {
	is := &issuer{name: name, responder: r, tables: map[crypto.Hash]*atomic.Pointer[table]{}}
	for _, h := range supportedHashes {
		is.tables[h] = &atomic.Pointer[table]{}
	}
	return is
}

func (is *issuer) table(h crypto.Hash) *table { return is.tables[h].Load() }

// matches reports whether a CertID names this CA: both of its hashes
// must be the CA's (RFC 6960 §4.1.1).
func (is *issuer) matches(id certID) bool {
	name, key, ok := is.responder.IssuerHashes(id.hash)
	return ok && bytes.Equal(id.keyHash, key) && bytes.Equal(id.nameHash, name)
}

// issuerFor finds the one CA every CertID of a request names. It returns
// nil when a CertID names a CA we do not have, uses a hash algorithm we
// cannot match, or when the CertIDs name different CAs: one response is
// signed by one CA's delegated responder, which speaks for that CA only
// (RFC 6960 §4.2.2.2), so the request gets "unauthorized" (§2.3).
func (r *Responder) issuerFor(req *request) *issuer {
	var found *issuer
	for _, id := range req.certs {
		var is *issuer
		for _, cand := range r.issuerList() {
			if cand.matches(id) {
				is = cand
				break
			}
		}
		if is == nil || (found != nil && is != found) {
			return nil
		}
		found = is
	}
	return found
}
