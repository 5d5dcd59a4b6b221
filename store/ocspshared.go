package store

import (
	"context"
	"time"
)

// SharedOCSP is one pre-signed OCSP response kept in the store, so that
// instances sharing the store sign each response once: whichever instance
// pre-signs a certificate's response first stores it, and the others take
// it from here instead of signing their own (ocsp.Config.Shared). The
// status it was signed with travels beside it, so that a reader uses it
// only while the certificate's status is still the same.
type SharedOCSP struct {
	Issuer    string // issuing CA name
	Hash      string // CertID hash algorithm: "sha1" or "sha256"
	Serial    string // lowercase hex, as Certificate.Serial
	Revoked   bool
	RevokedAt time.Time // zero unless Revoked
	Reason    int       // CRLReason, 0 unless Revoked

	ProducedAt, ThisUpdate, NextUpdate time.Time
	Signed                             []byte // ca.SignedOCSP.Signed: the response body without its envelope
}

// SharedOCSPStore keeps pre-signed OCSP responses for every instance.
// Every method is safe for concurrent use by several processes.
type SharedOCSPStore interface {
	// PutOCSPResponses stores responses. One replaces the stored response
	// of the same issuer, hash and serial if it is revoked and the stored
	// one is not, or if it is newer (a later ThisUpdate) and does not turn
	// a revoked status back into a good one (a revocation is final), so
	// that a slow writer never undoes a newer one.
	PutOCSPResponses(ctx context.Context, rs []SharedOCSP) error
	// OCSPResponses returns the stored responses of issuer and hash for
	// the given serials, in no particular order; serials without one are
	// left out.
	OCSPResponses(ctx context.Context, issuer, hash string, serials []string) ([]SharedOCSP, error)
	// PruneOCSPResponses forgets responses whose NextUpdate is before t.
	PruneOCSPResponses(ctx context.Context, before time.Time) (int64, error)
}
