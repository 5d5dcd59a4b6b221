package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"time"
)

// RenewTSA keeps the TSA certificate current while the server runs, as
// RenewOCSPResponders does for the responders: a new key and certificate
// from the Code Signing CA once a third of its lifetime is left, or the
// certificate another process on the store renewed. Tokens signed before
// carry (or, without certReq, name through ESSCertIDv2) the certificate
// that signed them, so they keep verifying. It reports whether the
// certificate changed; EnableTimestamps must have run.
func (e *Engine) RenewTSA(ctx context.Context, actor string) (bool, error) {
	t := e.tsa.Load()
	if t == nil {
		return false, fmt.Errorf("time-stamping is not enabled")
	}
	parent := e.ca(CodeSigningCA)
	der, keyID, err := e.storedCA(ctx, TSAName)
	if err != nil {
		return false, err
	}
	if der != nil && !bytes.Equal(der, t.cert.Raw) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return false, fmt.Errorf("the stored TSA certificate: %w", err)
		}
		if err := c.CheckSignatureFrom(parent.cert); err != nil {
			return false, fmt.Errorf("the stored TSA certificate is not signed by %s: %w", parent.name, err)
		}
		return true, e.useTSA(ctx, &authority{name: TSAName, role: "tsa", keyID: keyID, cert: c, parent: parent}, t)
	}
	now := e.cfg.Now().UTC().Truncate(time.Second)
	tmpl := tsaTemplate(&e.cfg, e.cfg.Hierarchy.TSA, now)
	withIssuerURLs(&e.cfg, tmpl, parent.key, true) // the current generation's (rollover.go)
	if !needsRenewal(t.cert, tmpl, now) {
		return false, nil
	}
	a, err := e.renewDelegate(ctx, delegate{
		name: TSAName, role: "tsa", parent: parent, tmpl: tmpl,
		keyType: e.cfg.Hierarchy.TSA.KeyType, action: "tsa.renew", actor: actor, now: now,
	})
	if err != nil {
		return false, fmt.Errorf("renewing the TSA certificate: %w", err)
	}
	return true, e.useTSA(ctx, a, t)
}

// useTSA switches time-stamping to a's certificate and key, keeping the
// token records of the current timestamper.
func (e *Engine) useTSA(ctx context.Context, a *authority, cur *timestamper) error {
	if err := checkTSACert(a.cert); err != nil {
		return err
	}
	signer, err := e.keys.Signer(ctx, a.keyID)
	if err != nil {
		return fmt.Errorf("the TSA key: %w", err)
	}
	t, err := newTimestamper(a, signer, cur.records)
	if err != nil {
		return err
	}
	e.tsa.Store(t)
	return nil
}

// storedCA returns the DER and key ID of the store's record of a
// certificate of the hierarchy, or nil if there is none.
func (e *Engine) storedCA(ctx context.Context, name string) ([]byte, string, error) {
	recs, err := e.store.CAs(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, r := range recs {
		if r.Name == name {
			return r.DER, r.KeyID, nil
		}
	}
	return nil, "", nil
}
