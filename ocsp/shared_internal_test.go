package ocsp

import (
	"math/big"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// TestReusable: a stored response stands in for a signature only when it
// was signed for the certificate's status now and is fresh enough.
func TestReusable(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	validity := 24 * time.Hour
	r := &Responder{cfg: Config{Validity: validity, Now: func() time.Time { return now }}}
	revokedAt := now.Add(-time.Hour)
	good := ca.SerialStatus{Serial: big.NewInt(10), CertStatus: ca.CertStatus{Status: ca.Good}}
	revoked := ca.SerialStatus{Serial: big.NewInt(10), CertStatus: ca.CertStatus{Status: ca.Revoked, RevokedAt: revokedAt, Reason: ca.KeyCompromise}}
	signed := func(age time.Duration, rev bool, at time.Time, reason int) store.SharedOCSP {
		return store.SharedOCSP{ThisUpdate: now.Add(-age), NextUpdate: now.Add(-age + validity), Revoked: rev, RevokedAt: at, Reason: reason}
	}
	for _, tc := range []struct {
		name string
		sh   store.SharedOCSP
		st   ca.SerialStatus
		want bool
	}{
		{"good for good, fresh", signed(time.Minute, false, time.Time{}, 0), good, true},
		{"good for good, at the age limit", signed(validity/4, false, time.Time{}, 0), good, true},
		{"good for good, too old", signed(validity/4+time.Second, false, time.Time{}, 0), good, false},
		{"good for revoked: never", signed(time.Minute, false, time.Time{}, 0), revoked, false},
		{"revoked for good: never", signed(time.Minute, true, revokedAt, 1), good, false},
		{"revoked for revoked", signed(time.Minute, true, revokedAt, 1), revoked, true},
		{"revoked with another reason", signed(time.Minute, true, revokedAt, 4), revoked, false},
		{"revoked at another time", signed(time.Minute, true, revokedAt.Add(time.Second), 1), revoked, false},
		{"unknown status", signed(time.Minute, false, time.Time{}, 0), ca.SerialStatus{Serial: big.NewInt(10), CertStatus: ca.CertStatus{Status: ca.Unknown}}, false},
		{"expires too soon", store.SharedOCSP{ThisUpdate: now, NextUpdate: now.Add(validity / 2)}, good, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.reusable(tc.sh, tc.st); got != tc.want {
				t.Errorf("reusable = %v, want %v", got, tc.want)
			}
		})
	}
}
