package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

var (
	// id-pkix-ocsp-nocheck, RFC 6960 §4.2.2.2.1: relying parties need not
	// check the status of the delegated responder certificate.
	oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
	oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamp   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	asn1Null       = []byte{0x05, 0x00}
)

// planned is one certificate of the hierarchy still to be signed.
type planned struct {
	name, role, parent string
	cfg                CertConfig
	tmpl               *x509.Certificate
}

// Bootstrap creates the hierarchy in an empty store: root, the Services,
// Code Signing and Admin CAs, an OCSP responder per issuing CA, the TSA and the
// HTTPS certificate, all in one store transaction together with extraKeys
// (the KEK parameters of a new software key store). It returns false and
// no error when the store already holds a hierarchy, also when another
// process created it first.
func Bootstrap(ctx context.Context, st store.Store, ks keys.Source, cfg Config, actor string, extraKeys ...store.KeyRecord) (bool, error) {
	if err := cfg.Validate(); err != nil {
		return false, err
	}
	existing, err := st.CAs(ctx)
	if err != nil {
		return false, err
	}
	if len(existing) > 0 {
		return false, nil
	}
	now := cfg.Now().UTC().Truncate(time.Second)
	h := cfg.Hierarchy
	ca := func(cc CertConfig, pathLen int, eku []x509.ExtKeyUsage, policies ...x509.OID) *x509.Certificate {
		return caTemplate(&cfg, cc, now, pathLen, eku, policies...)
	}
	plan := []planned{
		// The root has no path length constraint (BR §7.1.2.1.4).
		{RootCA, "root", "", h.Root, ca(h.Root, -1, nil)},
		{ServicesCA, "intermediate", RootCA, h.Services, ca(h.Services, 0, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, oidPolicyDV)},
		// The TSA hangs below the Code Signing CA, so its EKU and policies
		// allow time-stamping too.
		{CodeSigningCA, "intermediate", RootCA, h.CodeSigning, ca(h.CodeSigning, 0, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageTimeStamping}, oidPolicyCodeSigning, oidPolicyTimestamp)},
	}
	withIssuerURLs(&cfg, plan[1].tmpl, RootCA, false)
	withIssuerURLs(&cfg, plan[2].tmpl, RootCA, false)
	admin := adminCAPlan(&cfg, now)
	plan = append(plan, admin[0], ocspPlan(&cfg, ServicesCA, now), ocspPlan(&cfg, CodeSigningCA, now), admin[1])
	plan = append(plan,
		planned{TSAName, "tsa", CodeSigningCA, h.TSA, tsaTemplate(&cfg, h.TSA, now)},
		planned{HTTPSName, "https", ServicesCA, h.HTTPS, httpsTemplate(&cfg, now)},
	)

	keyRecs, recs, err := signPlan(ctx, ks, &cfg, plan, now, nil, nil)
	if err != nil {
		return false, err
	}
	keyRecs = append(slices.Clone(extraKeys), keyRecs...)
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "init", Object: "hierarchy", Result: "ok"}
	err = st.CreateHierarchy(ctx, keyRecs, recs, ev)
	if errors.Is(err, store.ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// caTemplate is the template of a CA certificate of the hierarchy.
func caTemplate(cfg *Config, cc CertConfig, now time.Time, pathLen int, eku []x509.ExtKeyUsage, policies ...x509.OID) *x509.Certificate {
	return &x509.Certificate{
		Policies:              policies,
		Subject:               cfg.subject(cc.CommonName),
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(cc.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            pathLen,
		MaxPathLenZero:        pathLen == 0,
		ExtKeyUsage:           eku,
	}
}

// ocspPlan is the delegated OCSP responder of an issuing CA.
func ocspPlan(cfg *Config, issuer string, now time.Time) planned {
	h := cfg.Hierarchy
	parentCN := map[string]string{ServicesCA: h.Services.CommonName, CodeSigningCA: h.CodeSigning.CommonName, AdminCA: h.Admin.CommonName}[issuer]
	return ocspPlanFor(cfg, issuer, parentCN, now)
}

// ocspPlanFor is the delegated OCSP responder of the issuing CA named
// issuer whose common name is issuerCN.
func ocspPlanFor(cfg *Config, issuer, issuerCN string, now time.Time) planned {
	cc := cfg.Hierarchy.OCSP
	cc.CommonName = cfg.Hierarchy.OCSP.CommonName + " " + issuerCN
	return planned{OCSPResponderName(issuer), "ocsp", issuer, cc, ocspTemplate(cfg, cc, now)}
}

// adminCAPlan is the VCC Admin CA (client authentication only: API
// service accounts) and its OCSP responder.
func adminCAPlan(cfg *Config, now time.Time) []planned {
	t := caTemplate(cfg, cfg.Hierarchy.Admin, now, 0, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, oidPolicyDV)
	withIssuerURLs(cfg, t, RootCA, false)
	return []planned{{AdminCA, "intermediate", RootCA, cfg.Hierarchy.Admin, t}, ocspPlan(cfg, AdminCA, now)}
}

// signPlan creates a key per planned certificate and signs it with its
// parent's key, from plan or from signed/signers (CAs that exist
// already), linting each certificate.
func signPlan(ctx context.Context, ks keys.Source, cfg *Config, plan []planned, now time.Time, signed map[string]*x509.Certificate, signers map[string]crypto.Signer) ([]store.KeyRecord, []store.CARecord, error) {
	lt, err := newLinter()
	if err != nil {
		return nil, nil, err
	}
	if signed == nil {
		signed, signers = map[string]*x509.Certificate{}, map[string]crypto.Signer{}
	}
	var keyRecs []store.KeyRecord
	var recs []store.CARecord
	for i, p := range plan {
		if cfg.Progress != nil {
			cfg.Progress(fmt.Sprintf("[%d/%d] %s key (%s) and certificate", i+1, len(plan), p.name, p.cfg.KeyType))
		}
		keyID := fmt.Sprintf("%s-%d", p.name, now.Unix())
		signer, krec, err := ks.Create(ctx, keyID, p.cfg.KeyType)
		if err != nil {
			return nil, nil, fmt.Errorf("creating the key of %s: %w", p.name, err)
		}
		parentCert, parentKey := p.tmpl, signer
		if p.parent != "" {
			parentCert, parentKey = signed[p.parent], signers[p.parent]
			if p.tmpl.NotAfter.After(parentCert.NotAfter) {
				p.tmpl.NotAfter = parentCert.NotAfter
			}
			p.tmpl.AuthorityKeyId = parentCert.SubjectKeyId
		}
		der, cert, err := signCert(lt, p.name, p.tmpl, parentCert, signer.Public(), parentKey)
		if err != nil {
			return nil, nil, err
		}
		signed[p.name], signers[p.name] = cert, signer
		keyRecs = append(keyRecs, krec)
		recs = append(recs, store.CARecord{Name: p.name, Role: p.role, Parent: p.parent, KeyID: keyID, DER: der, CreatedAt: now})
	}
	return keyRecs, recs, nil
}

// signCert gives tmpl a serial number and the subject key identifier of
// pub, signs it with parentKey and lints it (the hierarchy's lint
// exceptions for name).
func signCert(lt *linter, name string, tmpl, parentCert *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) ([]byte, *x509.Certificate, error) {
	var err error
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	if tmpl.SubjectKeyId, err = subjectKeyID(pub); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, pub, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	ignore := append(HierarchyLintIgnore(name), linkLintIgnore(name)...)
	if cert.PublicKeyAlgorithm == x509.Ed25519 || cert.SignatureAlgorithm == x509.PureEd25519 {
		ignore = append(ignore, ed25519Lints...)
	}
	if f, err := lt.check(der, ignore); err != nil || len(f.Errors) > 0 {
		return nil, nil, fmt.Errorf("the %s certificate fails lint (check the hierarchy configuration): %v %s", name, err, strings.Join(f.Errors, "; "))
	}
	return der, cert, nil
}

// withIssuerURLs puts the parent's caIssuers and CRL URLs into tmpl. CA
// certificates carry no OCSP URL: their status comes from the root's CRL.
func withIssuerURLs(cfg *Config, tmpl *x509.Certificate, parent string, ocsp bool) {
	tmpl.IssuingCertificateURL = []string{cfg.caIssuersURL(parent)}
	tmpl.CRLDistributionPoints = []string{cfg.crlURL(parent)}
	if ocsp {
		tmpl.OCSPServer = []string{cfg.ocspURL()}
	}
}

func ocspTemplate(cfg *Config, cc CertConfig, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:         cfg.subject(cc.CommonName),
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.Add(cc.Validity),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions: []pkix.Extension{{Id: oidOCSPNoCheck, Value: asn1Null}},
	}
}

// tsaTemplate: RFC 3161 §2.3 wants exactly one EKU, id-kp-timeStamping,
// marked critical. crypto/x509 never marks EKU critical, so it is written
// by hand.
func tsaTemplate(cfg *Config, cc CertConfig, now time.Time) *x509.Certificate {
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamp})
	t := &x509.Certificate{
		Subject:         cfg.subject(cc.CommonName),
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.Add(cc.Validity),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
		Policies:        []x509.OID{oidPolicyTimestamp},
	}
	withIssuerURLs(cfg, t, CodeSigningCA, true)
	return t
}

func httpsTemplate(cfg *Config, now time.Time) *x509.Certificate {
	t := &x509.Certificate{
		NotBefore:   now.Add(-time.Minute),
		NotAfter:    now.Add(cfg.Hierarchy.HTTPS.Validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback},
		Policies:    []x509.OID{oidPolicyDV},
	}
	for _, n := range cfg.Hierarchy.HTTPSNames {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(t.IPAddresses, ip.Equal) {
				t.IPAddresses = append(t.IPAddresses, ip)
			}
		} else if !slices.Contains(t.DNSNames, n) {
			t.DNSNames = append(t.DNSNames, n)
		}
	}
	if cfg.Hierarchy.HTTPS.KeyType == keys.RSA2048 || cfg.Hierarchy.HTTPS.KeyType == keys.RSA3072 || cfg.Hierarchy.HTTPS.KeyType == keys.RSA4096 {
		t.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	withIssuerURLs(cfg, t, ServicesCA, true)
	return t
}
