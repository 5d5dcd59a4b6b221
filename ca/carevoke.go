package ca

import (
	"context"
	"errors"
	"math/big"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// caRevocationReasons are the reasons a CA certificate may be revoked
// with (RFC 5280 §5.3.1); keyCompromise is accepted as the operator's
// word for the CA's own key.
var caRevocationReasons = []RevocationReason{CACompromise, KeyCompromise, Superseded, CessationOfOperation, AffiliationChanged}

// ParseCAReason reads a CA revocation reason; BadRevocationReason for
// any other.
func ParseCAReason(s string) (RevocationReason, error) {
	for _, r := range caRevocationReasons {
		if s == r.String() {
			return r, nil
		}
	}
	names := make([]string, len(caRevocationReasons))
	for i, r := range caRevocationReasons {
		names[i] = r.String()
	}
	return 0, caerr.New(caerr.BadRevocationReason, "%q is not a reason to revoke a CA; use one of %v", s, names)
}

// RevokeCARequest names the CA to revoke and why.
type RevokeCARequest struct {
	Name   string
	Reason RevocationReason
	// Force allows revoking the CA that signs the server's HTTPS
	// certificate (the Services CA): the server keeps serving with a
	// certificate no client will accept until it is replaced.
	Force bool
}

// RevokeCA revokes an issuing CA: the store records it (with an audit
// event), the CA issues nothing more, its certificate goes on its
// parent's CRL (the root's CRL is an ARL, RFC 5280 §5.2.5
// onlyContainsCACerts) and its parent's OCSP responder, if any, answers
// revoked for it. The root is never revoked here (a root is withdrawn
// from trust stores, not revoked); the Services CA, which signs the
// server's own HTTPS certificate, only with Force. Other processes stop
// issuing under it on their next Refresh.
func (e *Engine) RevokeCA(ctx context.Context, req RevokeCARequest, actor string) error {
	if err := e.CheckRevokeCA(req); err != nil {
		return err
	}
	a := e.ca(req.Name)
	now := e.cfg.Now().UTC().Truncate(time.Second)
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "ca.revoke", Object: req.Name, Result: "ok " + req.Reason.String()}
	err := e.store.RevokeCA(ctx, req.Name, now, int(req.Reason), ev)
	switch {
	case errors.Is(err, store.ErrConflict):
		return caerr.New(caerr.Conflict, "the %s CA is revoked already", req.Name)
	case errors.Is(err, store.ErrNotFound):
		return caerr.New(caerr.NotFound, "no issuing CA named %q", req.Name)
	case err != nil:
		return err
	}
	a.revoked.Store(&caRevocation{at: now, reason: req.Reason})
	e.caChanged()
	return nil
}

// CertificatesUnder lists the unrevoked, unexpired certificates issued by
// the named CA: those whose holders must renew under another CA once it
// is revoked.
func (e *Engine) CertificatesUnder(ctx context.Context, name string) ([]store.Certificate, error) {
	no := false
	return e.store.Certificates(ctx, store.CertFilter{Issuer: name, ValidAt: e.cfg.Now().UTC(), Revoked: &no})
}

// CARevoked reports whether the named CA, or one of its ancestors, is
// revoked, and when: ACME renewal information (RFC 9773) tells the
// holders of its certificates to renew now.
func (e *Engine) CARevoked(name string) (time.Time, bool) {
	for a := e.ca(name); a != nil; a = a.parent {
		if r := a.revoked.Load(); r != nil {
			return r.at, true
		}
	}
	return time.Time{}, false
}

// revokedChildren calls fn for every revoked CA certificate that issuer
// signed, as the store holds them now (so that a CRL or OCSP answer
// signed here sees another process's revocation).
func (e *Engine) revokedChildren(ctx context.Context, issuer string, fn func(serial *big.Int, r store.CARecord, a *authority) error) error {
	recs, err := e.store.CAs(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Parent != issuer || r.RevokedAt.IsZero() {
			continue
		}
		a := e.ca(r.Name)
		if a == nil {
			continue // made by another process, not refreshed yet
		}
		if a.revoked.Load() == nil {
			a.revoked.Store(&caRevocation{at: r.RevokedAt, reason: RevocationReason(r.RevocationReason)})
			e.caChanged()
		}
		if err := fn(a.cert.SerialNumber, r, a); err != nil {
			return err
		}
	}
	return nil
}

// caStatus is the status of a CA certificate issuer signed, for its OCSP
// responder; ok is false when serial is not one.
func (e *Engine) caStatus(ctx context.Context, issuer string, serial *big.Int) (CertStatus, bool, error) {
	var found *CertStatus
	for _, a := range e.set.Load().cas {
		if a.parent != nil && a.parent.name == issuer && a.cert.SerialNumber.Cmp(serial) == 0 {
			found = &CertStatus{Status: Good, NotAfter: a.cert.NotAfter}
		}
	}
	if found == nil {
		return CertStatus{}, false, nil
	}
	err := e.revokedChildren(ctx, issuer, func(s *big.Int, r store.CARecord, a *authority) error {
		if s.Cmp(serial) == 0 {
			*found = CertStatus{Status: Revoked, RevokedAt: r.RevokedAt, Reason: RevocationReason(r.RevocationReason), NotAfter: a.cert.NotAfter}
		}
		return nil
	})
	return *found, true, err
}
