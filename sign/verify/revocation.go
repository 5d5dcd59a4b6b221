package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"
)

// RevocationChecker says whether a signer certificate was revoked in a
// way that voids a signature time-stamped at a given time.
type RevocationChecker interface {
	// Check returns nil when the certificate was good at the time (or
	// revoked later, for a reason other than keyCompromise), a *Failure of
	// kind Revoked, or one of kind RevocationUnknown.
	Check(ctx context.Context, leaf, issuer *x509.Certificate, at time.Time) error
}

// Online asks the OCSP responder named in the certificate's AIA, and
// falls back to its CRL distribution point.
type Online struct {
	Client *http.Client // nil: a client with a 10 s timeout
	// Now is the verifier's clock, which a CRL's nextUpdate is compared
	// with; nil: time.Now.
	Now func() time.Time
}

// maxStatusReply bounds an OCSP response or CRL.
const maxStatusReply = 16 << 20

// revokedAt judges a revocation: keyCompromise voids every signature,
// whatever its time; another reason only those time-stamped at or after
// the revocation.
func revokedAt(leaf *x509.Certificate, reason int, when, at time.Time, source string) error {
	if reason == ocsp.KeyCompromise {
		return fail(Revoked, nil, "the signer certificate %s was revoked for keyCompromise on %s (%s): every signature is void",
			leaf.SerialNumber.Text(16), when.UTC().Format(time.RFC3339), source)
	}
	if !when.After(at) {
		return fail(Revoked, nil, "the signer certificate %s was revoked (reason %d) on %s, before the time-stamp %s (%s)",
			leaf.SerialNumber.Text(16), reason, when.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), source)
	}
	return nil
}

// Check implements RevocationChecker.
func (o Online) Check(ctx context.Context, leaf, issuer *x509.Certificate, at time.Time) error {
	var errs []error
	for _, u := range leaf.OCSPServer {
		err := o.ocsp(ctx, u, leaf, issuer, at)
		if _, ok := KindOf(err); ok || err == nil {
			return err
		}
		errs = append(errs, fmt.Errorf("OCSP %s: %w", u, err))
	}
	for _, u := range leaf.CRLDistributionPoints {
		err := o.crl(ctx, u, leaf, issuer, at)
		if _, ok := KindOf(err); ok || err == nil {
			return err
		}
		errs = append(errs, fmt.Errorf("CRL %s: %w", u, err))
	}
	if len(errs) == 0 {
		return fail(RevocationUnknown, nil, "the signer certificate names no OCSP responder and no CRL")
	}
	return fail(RevocationUnknown, errors.Join(errs...), "the revocation status of the signer certificate is unknown")
}

func (o Online) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (o Online) get(ctx context.Context, method, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/ocsp-request")
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxStatusReply))
}

func (o Online) ocsp(ctx context.Context, url string, leaf, issuer *x509.Certificate, at time.Time) error {
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return err
	}
	der, err := o.get(ctx, http.MethodPost, url, req)
	if err != nil {
		return err
	}
	r, err := ocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil {
		return err
	}
	switch r.Status {
	case ocsp.Good:
		return nil
	case ocsp.Revoked:
		return revokedAt(leaf, r.RevocationReason, r.RevokedAt, at, "OCSP")
	}
	return errors.New("the responder does not know the certificate")
}

func (o Online) crl(ctx context.Context, url string, leaf, issuer *x509.Certificate, at time.Time) error {
	der, err := o.get(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return err
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("CRL not signed by the issuer: %w", err)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if now().After(crl.NextUpdate) && !crl.NextUpdate.IsZero() {
		return fmt.Errorf("the CRL is stale (next update %s)", crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return revokedAt(leaf, e.ReasonCode, e.RevocationTime, at, "CRL")
		}
	}
	return nil
}
