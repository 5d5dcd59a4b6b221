package store

import (
	"context"
	"time"
)

// TimestampRecord is what is kept of every RFC 3161 time-stamp token the
// TSA hands out, so that an operator can later show what was stamped when.
type TimestampRecord struct {
	Serial  int64     // TSTInfo.serialNumber; 1, 2, 3, ... (reserved in blocks, never reused)
	Time    time.Time // TSTInfo.genTime, exactly as in the token (UTC)
	Hash    string    // hash algorithm of the message imprint: "sha256", "sha384", "sha512"
	Imprint []byte    // the hashed message of the message imprint
	Policy  string    // TSTInfo.policy, dotted decimal
}

// TimestampStore persists the TSA's serial numbers and token records. It
// is separate from Store so that only the TSA depends on it. Every method
// is safe for concurrent use, also by several processes sharing a store.
type TimestampStore interface {
	// ReserveTimestampSerials reserves n consecutive serial numbers and
	// returns the first. No reservation, in this process or any other
	// sharing the store, before or after a restart, overlaps another: the
	// reservation is durable before it returns.
	ReserveTimestampSerials(ctx context.Context, n int64) (int64, error)
	// RecordTimestamp stores one token record. It returns only once the
	// record is durable (writes are batched with other concurrent writes).
	// ErrConflict if the serial is already recorded.
	RecordTimestamp(ctx context.Context, r TimestampRecord) error
	// TimestampBySerial returns the record of a serial, or ErrNotFound.
	TimestampBySerial(ctx context.Context, serial int64) (TimestampRecord, error)
	// TimestampsByImprint returns every record whose hashed message is
	// imprint (any hash algorithm), oldest first; none is not an error.
	// It may scan every record: it is an operator's query, and keeping
	// records cheap to write comes first.
	TimestampsByImprint(ctx context.Context, imprint []byte) ([]TimestampRecord, error)
}
