package store

import (
	"context"
	"time"
)

// CertStatus is what the OCSP responder and the CRL builder need of one
// certificate: no DER, no names.
type CertStatus struct {
	Serial    string
	Issuer    string
	NotAfter  time.Time
	CRLShard  int
	RevokedAt time.Time // zero while not revoked
	Reason    int
}

// AllShards makes RevokedInShard walk every shard.
const AllShards = -1

// StatusCursor is a place in an issuer's certificates ordered by
// NotAfter, then Serial.
type StatusCursor struct {
	NotAfter time.Time
	Serial   string
}

// Cursor is the place of c.
func (c CertStatus) Cursor() StatusCursor {
	return StatusCursor{NotAfter: c.NotAfter, Serial: c.Serial}
}

// StatusChange is one issuance or revocation, with the certificate's
// status as it is now (not as it was at the change).
type StatusChange struct {
	Seq int64
	CertStatus
}

// StatusStore is the read side of certificate status that the CA engine
// offers the OCSP responder and the CRL builder: walks over many
// certificates that never load them all at once, and a feed of changes,
// so that a server notices what another process (vccpki revoke) wrote.
// Every method is safe for concurrent use by several processes.
type StatusStore interface {
	// CertificateStatuses returns up to limit certificates of issuer that
	// come after `after` in (NotAfter, Serial) order, in that order.
	// Callers page through an issuer's valid certificates by starting at
	// StatusCursor{NotAfter: now} and passing the cursor of the last
	// certificate they got.
	CertificateStatuses(ctx context.Context, issuer string, after StatusCursor, limit int) ([]CertStatus, error)
	// RevokedInShard streams the revoked certificates of one CRL shard of
	// an issuer (CRLShard == shard) in serial order, like
	// Store.RevokedCertificates does for the whole issuer. With shard
	// AllShards it streams every revoked certificate of the issuer, in
	// (shard, serial) order: a full CRL read from an index alone.
	RevokedInShard(ctx context.Context, issuer string, shard int, fn func(Revoked) error) error
	// StatusChanges returns up to limit changes (an issuance or a
	// revocation each) committed after the change numbered after, in
	// commit order, with the status each certificate has now. A caller
	// that passes the last Seq it got never misses a change, also one
	// committed by another process. after = 0 starts at the oldest kept.
	StatusChanges(ctx context.Context, after int64, limit int) ([]StatusChange, error)
	// LastStatusChange returns the Seq of the newest change (0 if none),
	// where a reader that has just loaded everything starts following.
	LastStatusChange(ctx context.Context) (int64, error)
	// PruneStatusChanges forgets changes recorded before t. Readers more
	// than that far behind must reload everything instead.
	PruneStatusChanges(ctx context.Context, before time.Time) error
}
