package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// CertificateInfo is what the engine knows of one issued certificate: the
// certificate, the chain to send after it, the profile it was issued from
// and its revocation state.
type CertificateInfo struct {
	Serial      string
	Profile     string
	Issuer      string
	Requester   string
	Certificate *x509.Certificate
	Chain       []*x509.Certificate // issuing CA first; the root is not included
	// Alternate is the chain through the issuing generation's link
	// certificate (rollover_link.go), link certificate first, the root
	// not included; nil when the generation has none.
	Alternate []*x509.Certificate
	RevokedAt time.Time // zero while not revoked
	// IssuerRevokedAt is when its issuing CA, or a CA above it, was
	// revoked (RevokeCA); zero while the chain stands.
	IssuerRevokedAt time.Time
	// IssuerRetiredAt is when the CA generation that signed it was
	// retired by a rollover (rollover.go); zero while it issues.
	IssuerRetiredAt time.Time
}

// Certificate looks up an issued certificate by serial (ACME certificate
// download, revocation and renewal information). caerr.NotFound if this CA
// never issued it.
func (e *Engine) Certificate(ctx context.Context, serial *big.Int) (*CertificateInfo, error) {
	hex := FormatSerial(serial)
	rec, err := e.store.Certificate(ctx, hex)
	if errors.Is(err, store.ErrNotFound) {
		return nil, caerr.New(caerr.NotFound, "no certificate with serial %s was issued here", hex)
	}
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return nil, fmt.Errorf("stored certificate %s: %w", hex, err)
	}
	caRevoked, _ := e.CARevoked(rec.Issuer)
	retired, _ := e.GenerationRetired(rec.Issuer)
	return &CertificateInfo{
		Serial: hex, Profile: rec.Profile, Issuer: rec.Issuer, Requester: rec.Requester,
		Certificate: cert, Chain: chainFrom(e.gen(rec.Issuer)), Alternate: e.alternateChain(e.gen(rec.Issuer)), RevokedAt: rec.RevokedAt,
		IssuerRevokedAt: caRevoked, IssuerRetiredAt: retired,
	}, nil
}
