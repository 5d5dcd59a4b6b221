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

	"github.com/vcc/vccpki/ca/keys"
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
	parent := e.ca(ServicesCA)
	// The URLs of the Services CA's current generation (rollover.go).
	withIssuerURLs(&e.cfg, tmpl, parent.key, true)
	if old != nil && !needsRenewal(old.cert, tmpl, now) {
		return false, nil
	}
	a, err := e.renewDelegate(ctx, delegate{
		name: HTTPSName, role: "https", parent: parent, tmpl: tmpl,
		keyType: e.cfg.Hierarchy.HTTPS.KeyType, action: "https.renew", actor: actor, now: now,
	})
	if err != nil {
		return false, err
	}
	e.https.Store(a)
	return true, nil
}

// delegate is a certificate of the hierarchy that is not a CA and is
// renewed while the server runs: the HTTPS and OCSP responder certificates.
type delegate struct {
	name, role string
	parent     *authority
	tmpl       *x509.Certificate
	keyType    keys.Type
	action     string // audit action
	actor      string
	now        time.Time
}

// renewDelegate makes a new key and certificate for d, lints it and
// records both (the key sealed, the CA record replaced) with an audit
// entry, and returns the new authority.
func (e *Engine) renewDelegate(ctx context.Context, d delegate) (*authority, error) {
	keyID := fmt.Sprintf("%s-%d", d.name, d.now.UnixNano())
	signer, krec, err := e.keys.Create(ctx, keyID, d.keyType)
	if err != nil {
		return nil, err
	}
	tmpl := d.tmpl
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, err
	}
	if tmpl.SubjectKeyId, err = subjectKeyID(signer.Public()); err != nil {
		return nil, err
	}
	if tmpl.NotAfter.After(d.parent.cert.NotAfter) {
		tmpl.NotAfter = d.parent.cert.NotAfter
	}
	parentKey, err := e.keys.Signer(ctx, d.parent.keyID)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, d.parent.cert, signer.Public(), parentKey)
	e.metrics.signature("certificate", d.parent.name, err)
	if err != nil {
		return nil, err
	}
	ignore := HierarchyLintIgnore(d.name)
	if d.parent.ed25519 || d.keyType == keys.Ed25519 {
		ignore = append(ignore, ed25519Lints...)
	}
	if f, err := e.linter.check(der, ignore); err != nil || len(f.Errors) > 0 {
		return nil, fmt.Errorf("the new %s certificate fails lint: %v %v", d.name, err, f.Errors)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	rec := store.CARecord{Name: d.name, Role: d.role, Parent: d.parent.name, KeyID: keyID, DER: der, CreatedAt: d.now}
	ev := store.AuditEvent{Time: d.now, Actor: d.actor, Action: d.action, Object: FormatSerial(cert.SerialNumber), Result: "ok"}
	if err := e.store.PutCA(ctx, krec, rec, ev); err != nil {
		return nil, err
	}
	return &authority{name: d.name, role: d.role, keyID: keyID, cert: cert, parent: d.parent, ed25519: cert.PublicKeyAlgorithm == x509.Ed25519}, nil
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
