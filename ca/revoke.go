package ca

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// RevocationReason is an RFC 5280 §5.3.1 CRLReason code.
type RevocationReason int

// The reasons of RFC 5280 §5.3.1 (value 7 is unused).
const (
	Unspecified          RevocationReason = 0
	KeyCompromise        RevocationReason = 1
	CACompromise         RevocationReason = 2
	AffiliationChanged   RevocationReason = 3
	Superseded           RevocationReason = 4
	CessationOfOperation RevocationReason = 5
	CertificateHold      RevocationReason = 6
	RemoveFromCRL        RevocationReason = 8
	PrivilegeWithdrawn   RevocationReason = 9
	AACompromise         RevocationReason = 10
)

var reasonNames = map[RevocationReason]string{
	Unspecified: "unspecified", KeyCompromise: "keyCompromise", CACompromise: "cACompromise",
	AffiliationChanged: "affiliationChanged", Superseded: "superseded", CessationOfOperation: "cessationOfOperation",
	CertificateHold: "certificateHold", RemoveFromCRL: "removeFromCRL", PrivilegeWithdrawn: "privilegeWithdrawn", AACompromise: "aACompromise",
}

// allowedReasons for end-entity certificates: certificateHold is not
// offered (revocation here is final, as RFC 8555 §7.6 and the Baseline
// Requirements §7.2.2 expect), removeFromCRL belongs to delta CRLs, and
// the CA/AA compromise reasons describe CA certificates.
var allowedReasons = []RevocationReason{Unspecified, KeyCompromise, AffiliationChanged, Superseded, CessationOfOperation, PrivilegeWithdrawn}

func (r RevocationReason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// ParseReason reads a reason by RFC 5280 name (any case, dashes and
// underscores ignored: "keyCompromise", "key-compromise") or number.
func ParseReason(s string) (RevocationReason, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return checkReason(RevocationReason(n))
	}
	norm := strings.ToLower(strings.NewReplacer("-", "", "_", "", " ", "").Replace(s))
	for r, name := range reasonNames {
		if strings.ToLower(name) == norm {
			return checkReason(r)
		}
	}
	return 0, caerr.New(caerr.BadRevocationReason, "%q is not a revocation reason; use one of %s", s, reasonList())
}

func checkReason(r RevocationReason) (RevocationReason, error) {
	for _, a := range allowedReasons {
		if a == r {
			return r, nil
		}
	}
	return 0, caerr.New(caerr.BadRevocationReason, "reason %s is not accepted for end-entity certificates; use one of %s", r, reasonList())
}

func reasonList() string {
	s := make([]string, len(allowedReasons))
	for i, r := range allowedReasons {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// Revoke revokes the certificate with that serial. The revocation and its
// audit entry are written in one transaction; a refusal is audited too.
func (e *Engine) Revoke(ctx context.Context, serial *big.Int, reason RevocationReason, by Requester) error {
	hexSerial := FormatSerial(serial)
	now := e.cfg.Now().UTC()
	err := e.revoke(ctx, hexSerial, reason, by, now)
	if err != nil {
		ev := store.AuditEvent{Time: now, Actor: by.String(), Action: "revoke.refused", Object: hexSerial, Result: err.Error()}
		ev.Org = e.orgOfSerial(ctx, hexSerial)
		if aerr := e.store.AppendAudit(context.WithoutCancel(ctx), ev); aerr != nil {
			return errors.Join(err, aerr)
		}
		return err
	}
	e.metrics.revoked.WithLabelValues(reason.String()).Inc()
	return nil
}

func (e *Engine) revoke(ctx context.Context, serial string, reason RevocationReason, by Requester, now time.Time) error {
	if _, err := checkReason(reason); err != nil {
		return err
	}
	ev := store.AuditEvent{Time: now, Actor: by.String(), Action: "revoke", Object: serial, Result: "ok: " + reason.String()}
	ev.Org = e.orgOfSerial(ctx, serial)
	err := e.store.Revoke(context.WithoutCancel(ctx), serial, now, int(reason), ev)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return caerr.New(caerr.NotFound, "no certificate with serial %s was issued here", serial)
	case errors.Is(err, store.ErrConflict):
		return caerr.New(caerr.Conflict, "certificate %s is already revoked", serial)
	}
	return err
}

// Status is a certificate's revocation status.
type Status int

// OCSP's three statuses (RFC 6960 §2.2).
const (
	Good Status = iota
	Revoked
	Unknown
)

// CertStatus is what the engine knows of one serial.
type CertStatus struct {
	Status    Status
	RevokedAt time.Time
	Reason    RevocationReason
	NotAfter  time.Time
}

// StatusOf looks up a serial issued by the named CA. A serial this CA
// never issued is Unknown.
func (e *Engine) StatusOf(ctx context.Context, issuer string, serial *big.Int) (CertStatus, error) {
	c, err := e.store.Certificate(ctx, FormatSerial(serial))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Issuer != issuer) {
		// A CA certificate the issuer signed (ca create), revoked or not.
		if st, ok, err := e.caStatus(ctx, issuer, serial); ok || err != nil {
			return st, err
		}
		return CertStatus{Status: Unknown}, nil
	}
	if err != nil {
		return CertStatus{}, err
	}
	if c.RevokedAt.IsZero() {
		return CertStatus{Status: Good, NotAfter: c.NotAfter}, nil
	}
	return CertStatus{Status: Revoked, RevokedAt: c.RevokedAt, Reason: RevocationReason(c.RevocationReason), NotAfter: c.NotAfter}, nil
}
