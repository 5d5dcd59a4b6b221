package store

import (
	"context"
	"time"
)

// SharedCRL is a signed CRL kept in the store, so that the instances
// sharing it build each CRL about once: an instance whose CRL is due
// serves a newer one another instance stored, if that one already
// includes every change it must include.
type SharedCRL struct {
	Issuer     string
	Shard      int // 0 for the issuer's full CRL
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
	// FromChange is the status change feed's last Seq read before the
	// CRL was built: it includes every revocation up to that change.
	FromChange int64
	DER        []byte
}

// SharedCRLStore keeps the newest CRL of each issuer and shard. Every
// method is safe for concurrent use by several processes.
type SharedCRLStore interface {
	// PutCRL stores c unless a CRL of the same issuer and shard with a
	// number at least as high is stored already.
	PutCRL(ctx context.Context, c SharedCRL) error
	// LatestCRL returns the stored CRL of issuer and shard, or ErrNotFound.
	LatestCRL(ctx context.Context, issuer string, shard int) (SharedCRL, error)
}
