package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"time"
)

// RenewOCSPResponders keeps the delegated OCSP responder certificates
// (RFC 6960 §4.2.2.2) current while the server runs, as RenewHTTPS does
// for the server's own certificate: a responder certificate with a third
// of its lifetime or less left is replaced by a new key and certificate
// from its issuing CA. A responder certificate that another process
// sharing the store renewed is taken over instead. Responses signed
// before keep the certificate that signed them (SignedOCSP.Certs). It
// returns the names of the issuing CAs whose responder changed.
func (e *Engine) RenewOCSPResponders(ctx context.Context, actor string) ([]string, error) {
	recs, err := e.store.CAs(ctx)
	if err != nil {
		return nil, err
	}
	stored := map[string][]byte{}
	keyIDs := map[string]string{}
	for _, r := range recs {
		stored[r.Name], keyIDs[r.Name] = r.DER, r.KeyID
	}
	var changed []string
	set := e.set.Load()
	for _, name := range e.IssuingCAs() {
		a := set.cas[name]
		if a == nil {
			continue
		}
		resp := set.ocsp[a.key]
		if resp == nil {
			continue
		}
		cur := resp.cur.Load().responder
		rname := OCSPResponderName(name)
		if der := stored[rname]; der != nil && !bytes.Equal(der, cur.cert.Raw) {
			if err := e.adoptResponder(resp, rname, der, keyIDs[rname]); err != nil {
				return changed, err
			}
			changed = append(changed, name)
			continue
		}
		now := e.cfg.Now().UTC().Truncate(time.Second)
		cc := e.cfg.Hierarchy.OCSP
		tmpl := ocspTemplate(&e.cfg, CertConfig{CommonName: cc.CommonName + " " + resp.issuer.cert.Subject.CommonName, KeyType: cc.KeyType, Validity: cc.Validity}, now)
		if !needsRenewal(cur.cert, tmpl, now) {
			continue
		}
		a, err := e.renewDelegate(ctx, delegate{
			name: rname, role: "ocsp", parent: resp.issuer, tmpl: tmpl,
			keyType: cc.KeyType, action: "ocsp.responder.renew", actor: actor, now: now,
		})
		if err != nil {
			return changed, fmt.Errorf("renewing the OCSP responder of %s: %w", name, err)
		}
		s, err := newOCSPSigner(a)
		if err != nil {
			return changed, err
		}
		resp.use(s)
		changed = append(changed, name)
	}
	return changed, nil
}

// adoptResponder switches resp to a responder certificate found in the
// store, after checking that resp's issuing CA signed it for OCSP.
func (e *Engine) adoptResponder(resp *OCSPResponder, name string, der []byte, keyID string) error {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("the stored %s certificate: %w", name, err)
	}
	if err := c.CheckSignatureFrom(resp.issuer.cert); err != nil {
		return fmt.Errorf("the stored %s certificate is not signed by %s: %w", name, resp.issuer.name, err)
	}
	ok := false
	for _, u := range c.ExtKeyUsage {
		ok = ok || u == x509.ExtKeyUsageOCSPSigning
	}
	if !ok {
		return fmt.Errorf("the stored %s certificate lacks id-kp-OCSPSigning", name)
	}
	s, err := newOCSPSigner(&authority{name: name, role: "ocsp", keyID: keyID, cert: c, parent: resp.issuer, ed25519: c.PublicKeyAlgorithm == x509.Ed25519})
	if err != nil {
		return err
	}
	resp.use(s)
	return nil
}
