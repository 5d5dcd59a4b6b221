package sqlstore

// How the contract's values become column values, and are checked: times
// as INTEGER unix nanoseconds UTC, serials in the contract's spelling,
// lists as JSON, audit events stamped in UTC. One copy, so the two engines
// cannot drift apart in what they accept or how they store it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vcc/vccpki/store"
)

var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// ToNanos is t as stored, or an error naming what for a time outside the
// storable range (years 1677 to 2262).
func ToNanos(what string, t time.Time) (int64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("%s %s is outside the storable range (%d to %d)",
			what, t.UTC().Format(time.RFC3339), minTime.Year(), maxTime.Year())
	}
	return t.UnixNano(), nil
}

// ClampNanos is for filter bounds, where "later than anything storable"
// is a meaningful answer.
func ClampNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// FromNanos is a stored time read back, in UTC.
func FromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// Blob keeps a nil slice from being sent as NULL into a NOT NULL column.
func Blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CheckSerial enforces the contract's serial spelling (lowercase hex of
// whole bytes, no leading zero byte): a serial written as "0A1" here and
// looked up as "0a01" by OCSP would be a certificate nobody can find.
func CheckSerial(serial string) error {
	bad := serial == "" || len(serial)%2 != 0 || strings.HasPrefix(serial, "00") ||
		strings.Trim(serial, "0123456789abcdef") != ""
	if bad {
		return fmt.Errorf("serial %q is not lowercase hex of whole bytes without a leading zero byte", serial)
	}
	return nil
}

// JSONList is a list as a JSON array, [] for nil.
func JSONList(l []string) (string, error) {
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// AuditRow stamps an event without a time with now and returns it in UTC
// with its time as stored. ChainHash uses UnixNano of the UTC time, which
// is exactly what is stored, so the hash recomputed from a read-back entry
// matches.
func AuditRow(ev store.AuditEvent, now time.Time) (store.AuditEvent, int64, error) {
	if ev.Time.IsZero() {
		ev.Time = now
	}
	ev.Time = ev.Time.UTC()
	ev.Org = store.OrgOf(ev.Org)
	at, err := ToNanos("audit time", ev.Time)
	return ev, at, err
}

// TokenArgs checks a time-stamp record and returns its column values:
// serial, genTime, hash, imprint, policy.
func TokenArgs(r store.TimestampRecord) ([]any, error) {
	switch {
	case r.Serial <= 0:
		return nil, errors.New("serial must be positive")
	case r.Hash == "" || r.Policy == "" || len(r.Imprint) == 0:
		return nil, errors.New("hash, imprint and policy are required")
	case r.Time.IsZero():
		return nil, errors.New("time is required")
	}
	at, err := ToNanos("genTime", r.Time)
	if err != nil {
		return nil, err
	}
	return []any{r.Serial, at, r.Hash, r.Imprint, r.Policy}, nil
}
