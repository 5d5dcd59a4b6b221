package ca

import (
	"context"
	"errors"
	"math/big"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// CertRecord is what the engine recorded about a certificate it issued.
type CertRecord struct {
	Serial    string
	Issuer    string // issuing CA name
	Profile   string // profile template it was issued from
	Requester string
	NotAfter  time.Time
	Revoked   bool
	DER       []byte
}

// Lookup returns the record of a certificate this CA issued, for front ends
// that must know a presented certificate's profile (EST re-enrolment,
// RFC 7030 §4.2.2). A serial this CA never issued is a caerr.NotFound.
func (e *Engine) Lookup(ctx context.Context, serial *big.Int) (CertRecord, error) {
	s := FormatSerial(serial)
	c, err := e.store.Certificate(ctx, s)
	if errors.Is(err, store.ErrNotFound) {
		return CertRecord{}, caerr.New(caerr.NotFound, "no certificate with serial %s was issued by this CA", s)
	}
	if err != nil {
		return CertRecord{}, err
	}
	return CertRecord{Serial: c.Serial, Issuer: c.Issuer, Profile: c.Profile, Requester: c.Requester,
		NotAfter: c.NotAfter, Revoked: !c.RevokedAt.IsZero(), DER: c.DER}, nil
}
