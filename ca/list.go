package ca

import (
	"context"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

// CertLister is the part of the store certificates are listed from.
type CertLister interface {
	Certificates(ctx context.Context, f store.CertFilter) ([]store.Certificate, error)
}

// Certificate statuses as listings show them.
const (
	ListedValid   = "valid"
	ListedRevoked = "revoked"
	ListedExpired = "expired"
)

// DefaultListPage is how many certificates a listing reads at a time.
const DefaultListPage = 1000

// ListCertificates calls fn for every certificate f selects, with its
// status at now, reading the store a page at a time (page 0:
// DefaultListPage) so that a CA with a million certificates is listed in
// bounded memory. after, when set, is called at the end of each page.
// It needs no keys and no hierarchy.
func ListCertificates(ctx context.Context, st CertLister, f store.CertFilter, page int, now time.Time,
	fn func(c store.Certificate, status string) error, after func() error) error {
	if page <= 0 {
		page = DefaultListPage
	}
	f.Limit = page
	for {
		certs, err := st.Certificates(ctx, f)
		if err != nil {
			return err
		}
		for _, c := range certs {
			status := ListedValid
			switch {
			case !c.RevokedAt.IsZero():
				status = ListedRevoked
			case !c.NotAfter.After(now):
				status = ListedExpired
			}
			if err := fn(c, status); err != nil {
				return err
			}
		}
		if after != nil {
			if err := after(); err != nil {
				return err
			}
		}
		if len(certs) < page {
			return nil
		}
		f.After = &certs[len(certs)-1]
	}
}

// RevokeAll revokes every certificate f selects that is not revoked yet
// (emergency re-certification of a service or an issuer), calling each
// after every one; with dryRun it only calls each. It stops at the first
// failure and returns how many it revoked.
func (e *Engine) RevokeAll(ctx context.Context, f store.CertFilter, reason RevocationReason, by Requester, dryRun bool,
	each func(store.Certificate)) (int, error) {
	certs, err := e.store.Certificates(ctx, f)
	if err != nil {
		return 0, err
	}
	revoked := 0
	for _, c := range certs {
		if !c.RevokedAt.IsZero() {
			continue
		}
		if !dryRun {
			serial, err := ParseSerial(c.Serial)
			if err != nil {
				return revoked, fmt.Errorf("stored serial: %w", err)
			}
			if err := e.Revoke(ctx, serial, reason, by); err != nil {
				return revoked, fmt.Errorf("revoking %s (after %d revoked): %w", c.Serial, revoked, err)
			}
			revoked++
		}
		each(c)
	}
	return revoked, nil
}
