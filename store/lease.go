package store

import (
	"context"
	"time"
)

// Leaser hands out named leases, so that background work which must run
// once across every vccpki instance sharing a database (pruning, renewing
// the HTTPS certificate, ...) runs at the one instance holding the lease.
// A holder renews before the lease expires; a holder that dies stops
// renewing, and after the lease's expiry another instance gets it.
//
// Expiry is judged by the now each caller passes: instances must keep
// their clocks in step (NTP), as a CA must anyway, and a TTL should be many
// times the worst clock difference.
type Leaser interface {
	// AcquireLease gives the lease name to holder until now+ttl if nobody
	// holds it, its holder's lease has expired at now, or holder already
	// holds it (a renewal). It reports whether holder holds the lease
	// afterwards. It never waits for another holder.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder holds it, so that another
	// instance can take over without waiting for the expiry.
	ReleaseLease(ctx context.Context, name, holder string) error
}
