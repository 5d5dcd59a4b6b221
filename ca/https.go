package ca

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/vcc/vccpki/store"
)

// TLSCertificate returns the server's HTTPS certificate with its chain, so
// that a client trusting only the root verifies it.
func (e *Engine) TLSCertificate(ctx context.Context) (*tls.Certificate, error) {
	a := e.https.Load()
	if a == nil {
		return nil, fmt.Errorf("the hierarchy has no HTTPS certificate")
	}
	k, err := e.keys.Signer(ctx, a.keyID)
	if err != nil {
		return nil, err
	}
	tc := &tls.Certificate{Certificate: [][]byte{a.cert.Raw}, PrivateKey: k, Leaf: a.cert}
	for _, c := range chainFrom(a.parent) {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// RenewHTTPS replaces the server's HTTPS certificate, with a new key, when
// a third of its lifetime or less is left or when it lacks a configured
// name. It reports whether it renewed.
func (e *Engine) RenewHTTPS(ctx context.Context, actor string) (bool, error) {
	old := e.https.Load()
	now := e.cfg.Now().UTC().Truncate(time.Second)
	tmpl := httpsTemplate(&e.cfg, now)
	if old != nil && !needsRenewal(old.cert, tmpl, now) {
		return false, nil
	}
	issuer := e.cas[ServicesCA]
	keyID := fmt.Sprintf("%s-%d", HTTPSName, now.UnixNano())
	signer, krec, err := e.keys.Create(ctx, keyID, e.cfg.Hierarchy.HTTPS.KeyType)
	if err != nil {
		return false, err
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return false, err
	}
	if tmpl.SubjectKeyId, err = subjectKeyID(signer.Public()); err != nil {
		return false, err
	}
	if tmpl.NotAfter.After(issuer.cert.NotAfter) {
		tmpl.NotAfter = issuer.cert.NotAfter
	}
	issuerKey, err := e.keys.Signer(ctx, issuer.keyID)
	if err != nil {
		return false, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer.cert, signer.Public(), issuerKey)
	e.metrics.signature("certificate", issuer.name, err)
	if err != nil {
		return false, err
	}
	if f, err := e.linter.check(der, HierarchyLintIgnore(HTTPSName)); err != nil || len(f.Errors) > 0 {
		return false, fmt.Errorf("the new HTTPS certificate fails lint: %v %v", err, f.Errors)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return false, err
	}
	rec := store.CARecord{Name: HTTPSName, Role: "https", Parent: ServicesCA, KeyID: keyID, DER: der, CreatedAt: now}
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "https.renew", Object: FormatSerial(cert.SerialNumber), Result: "ok"}
	if err := e.store.PutCA(ctx, krec, rec, ev); err != nil {
		return false, err
	}
	e.https.Store(&authority{name: HTTPSName, role: "https", keyID: keyID, cert: cert, parent: issuer})
	return true, nil
}

// needsRenewal: a third of the lifetime left, or a configured name missing.
func needsRenewal(c, want *x509.Certificate, now time.Time) bool {
	if now.After(c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore) / 3)) {
		return true
	}
	for _, n := range want.DNSNames {
		if !slices.Contains(c.DNSNames, n) {
			return true
		}
	}
	for _, ip := range want.IPAddresses {
		if !slices.ContainsFunc(c.IPAddresses, func(have net.IP) bool { return have.Equal(ip) }) {
			return true
		}
	}
	return false
}
