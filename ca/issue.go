package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// Protocols a request can come through. "operator" is the vccpki issue
// command, open for every profile.
const (
	ProtocolACME     = "acme"
	ProtocolEST      = "est"
	ProtocolOperator = "operator"
)

// Requester says who asks: the front end and its authenticated caller.
type Requester struct {
	Protocol string // acme, est, operator
	Subject  string // ACME account URL, EST user or client certificate, OS user
}

func (r Requester) String() string { return r.Protocol + ":" + r.Subject }

// IssueRequest is one issuance.
type IssueRequest struct {
	Profile string
	CSR     []byte // DER or PEM PKCS#10
	// Checked, instead of CSR, is the request as ParseCSR returned it to
	// the front end, which then need not be verified again.
	Checked   *CheckedCSR
	Requester Requester
	// Validated are the identifiers the front end has validated (ACME
	// authorizations). When non-nil, every identifier the CSR asks for must
	// be among them. Nil means the front end validates none (EST, operator)
	// and the profile alone decides.
	Validated []Identifier
	// Along, if set, makes a write of the front end's (store.Along, opaque
	// here) for the certificate with the given serial, committed in the
	// certificate's own transaction: the ACME order's completion. If it
	// fails, nothing of the issuance is stored. It is called once per
	// signed certificate (again after a serial collision).
	Along func(serial string) (store.Along, error)
}

// Issued is an issued certificate with the chain to send after it.
type Issued struct {
	Serial      string
	Certificate *x509.Certificate
	Chain       []*x509.Certificate // issuing CA first; the root is not included
	Warnings    []string            // lint warnings (errors refuse issuance)
}

// PEM returns the certificate followed by its chain.
func (i *Issued) PEM() []byte {
	var b bytes.Buffer
	for _, c := range append([]*x509.Certificate{i.Certificate}, i.Chain...) {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// Issue checks a CSR against a profile, lints, signs and records a
// certificate. The certificate is in the store before Issue returns it. A
// refusal is a *caerr.Error and is written to the audit log; nothing else
// is written.
func (e *Engine) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	start := time.Now()
	issued, err := e.issue(ctx, req)
	label := req.Profile
	if _, ok := e.profiles.Get(label); !ok {
		label = "unknown" // callers choose the name: keep metric labels bounded
	}
	e.metrics.observeIssue(label, err, time.Since(start))
	if err != nil {
		ev := store.AuditEvent{Time: e.cfg.Now().UTC(), Actor: req.Requester.String(), Action: "issue.refused", Object: "profile " + req.Profile, Result: err.Error()}
		if p, ok := e.profiles.Get(req.Profile); ok {
			ev.Org = p.Organisation
		}
		if caerr.KindOf(err) == caerr.Internal {
			ev.Action = "issue.failed"
		}
		if aerr := e.store.AppendAudit(context.WithoutCancel(ctx), ev); aerr != nil {
			return nil, errors.Join(err, fmt.Errorf("writing the audit entry: %w", aerr))
		}
		return nil, err
	}
	return issued, nil
}

func (e *Engine) issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	t := e.phaseTimer()
	tmpl, p, issuer, err := e.prepare(req)
	t.done("check")
	if err != nil {
		return nil, err
	}
	shard := e.assignCRLShard(tmpl, issuer.key)
	// A serial collision (2^-127 per pair) is retried with a new serial.
	for attempt := 0; ; attempt++ {
		if tmpl.SerialNumber, err = newSerial(); err != nil {
			return nil, err
		}
		lintTBS, warnings, err := e.lint(tmpl, issuer, p)
		t.done("lint")
		if err != nil {
			return nil, err
		}
		// A revocation since prepare stops this issuance too.
		if err := checkUsable(issuer); err != nil {
			return nil, err
		}
		// The real key signs the very bytes that were linted.
		cert, err := e.sign(ctx, lintTBS, issuer)
		if err != nil {
			return nil, err
		}
		t.done("sign")
		err = e.record(ctx, cert, p, issuer.key, req.Requester, shard, req.Along)
		t.done("store")
		if errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrAlongFailed) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("recording certificate %s: %w", FormatSerial(cert.SerialNumber), err)
		}
		return &Issued{Serial: FormatSerial(cert.SerialNumber), Certificate: cert, Chain: chainFrom(issuer), Warnings: warnings}, nil
	}
}

// phaseTimer reports phase durations to the PhaseObserver, if any.
type phaseTimer struct {
	observe func(string, time.Duration)
	last    time.Time
}

func (e *Engine) phaseTimer() *phaseTimer {
	if e.observe == nil {
		return &phaseTimer{}
	}
	return &phaseTimer{observe: e.observe, last: time.Now()}
}

func (t *phaseTimer) done(phase string) {
	if t.observe == nil {
		return
	}
	now := time.Now()
	t.observe(phase, now.Sub(t.last))
	t.last = now
}

// prepare runs every policy check and builds the certificate template.
func (e *Engine) prepare(req IssueRequest) (*x509.Certificate, *profile.Profile, *authority, error) {
	tmpl, p, err := e.prepareTemplate(req)
	if err != nil {
		return nil, nil, nil, err
	}
	issuer := e.ca(p.Issuer)
	if err := checkUsable(issuer); err != nil {
		return nil, nil, nil, err
	}
	if err := CheckNameConstraints(chainOf(issuer), tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs); err != nil {
		return nil, nil, nil, err
	}
	if tmpl.NotAfter.After(issuer.cert.NotAfter) {
		tmpl.NotAfter = issuer.cert.NotAfter
	}
	// The URLs of the generation signing (rollover.go).
	withIssuerURLs(&e.cfg, tmpl, issuer.key, true)
	tmpl.Policies = policiesFor(p)
	return tmpl, p, issuer, nil
}

// prepareTemplate runs the profile's checks and builds the template.
func (e *Engine) prepareTemplate(req IssueRequest) (*x509.Certificate, *profile.Profile, error) {
	p, ok := e.profiles.Get(req.Profile)
	if !ok {
		return nil, nil, caerr.New(caerr.UnknownProfile, "no profile named %q (known: %s)", req.Profile, strings.Join(e.profiles.Names(), ", "))
	}
	if !p.AllowsProtocol(req.Requester.Protocol) {
		return nil, nil, caerr.New(caerr.Unauthorized, "profile %s is not open to %s (only %s)", p.Name, req.Requester.Protocol, strings.Join(p.Protocols, ", "))
	}
	if e.ca(p.Issuer) == nil {
		return nil, nil, caerr.New(caerr.Unavailable, "profile %s issues from the %s CA, which this hierarchy does not have yet: run vccpki ca add-admin-ca", p.Name, p.Issuer)
	}
	checked := req.Checked
	if checked == nil || !checked.checked {
		raw := req.CSR
		if checked != nil {
			raw = checked.Raw
		}
		var err error
		if checked, err = ParseCSR(raw); err != nil {
			return nil, nil, err
		}
	}
	csr := checked.CertificateRequest
	if err := p.CheckKey(csr.PublicKey); err != nil {
		return nil, nil, err
	}
	if err := checkCSRExtensions(csr, p); err != nil {
		return nil, nil, err
	}
	ids, err := requestedIdentifiers(csr, p)
	if err != nil {
		return nil, nil, err
	}
	now := e.cfg.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		NotBefore:             now.Add(-p.Backdate),
		NotAfter:              now.Add(p.Validity),
		KeyUsage:              p.KeyUsageFor(csr.PublicKey),
		ExtKeyUsage:           p.ExtKeyUsage,
		BasicConstraintsValid: true,
		PublicKey:             csr.PublicKey,
	}
	if tmpl.SubjectKeyId, err = subjectKeyID(csr.PublicKey); err != nil {
		return nil, nil, caerr.New(caerr.BadPublicKey, "%v", err)
	}
	if p.SubjectPattern != "" {
		if len(ids) > 0 {
			return nil, nil, caerr.New(caerr.RejectedIdentifier, "profile %s issues no DNS or IP names; the CSR asks for %s", p.Name, describeIDs(ids))
		}
		if err := p.CheckSubject(csr.Subject.CommonName); err != nil {
			return nil, nil, err
		}
		if err := checkURIs(p, csr, tmpl); err != nil {
			return nil, nil, err
		}
		// CS BR §7.1.4.2.2: the organisation's country and locality or
		// province, from configuration; only the commonName is the caller's.
		tmpl.Subject = e.cfg.subject(csr.Subject.CommonName)
		if len(p.URIs) == 0 {
			tmpl.Subject.Locality = nonEmpty(e.cfg.Hierarchy.Locality)
			tmpl.Subject.Province = nonEmpty(e.cfg.Hierarchy.Province)
		}
		if p.SubjectURI != "" {
			u, err := url.Parse(p.SubjectURI + url.PathEscape(csr.Subject.CommonName))
			if err != nil {
				return nil, nil, caerr.New(caerr.RejectedIdentifier, "subject %q does not make a URI under %s: %v", csr.Subject.CommonName, p.SubjectURI, err)
			}
			tmpl.URIs = []*url.URL{u}
		}
	} else if err := e.checkIdentifiers(p, ids, req.Validated, tmpl); err != nil {
		return nil, nil, err
	}
	return tmpl, p, nil
}

// checkURIs copies the requested URI SANs the profile allows (the admin
// profile's roles); one outside its list refuses the request.
func checkURIs(p *profile.Profile, csr *x509.CertificateRequest, tmpl *x509.Certificate) error {
	if len(p.URIs) == 0 {
		return nil
	}
	if len(csr.URIs) == 0 {
		return caerr.New(caerr.RejectedIdentifier, "profile %s needs at least one URI name of %s", p.Name, strings.Join(p.URIs, ", "))
	}
	seen := map[string]bool{}
	for _, u := range csr.URIs {
		s := u.String()
		if err := p.CheckURI(s); err != nil {
			return err
		}
		if !seen[s] {
			seen[s] = true
			tmpl.URIs = append(tmpl.URIs, u)
		}
	}
	return nil
}

// checkIdentifiers checks every requested name against the profile and
// the validated set, and writes them as SANs (RFC 5280 §4.2.1.6). The
// subject stays empty, so the SAN extension is critical.
func (e *Engine) checkIdentifiers(p *profile.Profile, ids, validated []Identifier, tmpl *x509.Certificate) error {
	if len(ids) == 0 {
		return caerr.New(caerr.BadCSR, "the CSR names no DNS name or IP address")
	}
	if len(ids) > p.MaxNames {
		return caerr.New(caerr.RejectedIdentifier, "the CSR asks for %d names; profile %s allows %d", len(ids), p.Name, p.MaxNames)
	}
	for _, id := range ids {
		switch id.Type {
		case DNS:
			if err := p.CheckDNSName(id.Value); err != nil {
				return err
			}
			tmpl.DNSNames = append(tmpl.DNSNames, id.Value)
		case IP:
			a := netip.MustParseAddr(id.Value)
			if err := p.CheckIP(a); err != nil {
				return err
			}
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.AsSlice()))
		}
		if validated != nil && !containsID(validated, id) {
			return caerr.New(caerr.RejectedIdentifier, "%s was not validated for this request", id)
		}
	}
	return nil
}

func containsID(ids []Identifier, id Identifier) bool {
	for _, v := range ids {
		if v.Type == id.Type && strings.EqualFold(v.Value, id.Value) {
			return true
		}
	}
	return false
}

// lint signs tmpl with the issuer's throwaway lint key and runs zlint on
// the result. Any error-level finding refuses the issuance.
// It returns the linted TBSCertificate and the warnings.
func (e *Engine) lint(tmpl *x509.Certificate, issuer *authority, p *profile.Profile) ([]byte, []string, error) {
	li, err := issuer.lintIssuer()
	if err != nil {
		return nil, nil, err
	}
	der, err := li.sign(tmpl, tmpl.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing for lint: %w", err)
	}
	f, err := e.linter.check(der, lintIgnoreFor(p, issuer.ed25519, tmpl.PublicKey))
	if err != nil {
		return nil, nil, err
	}
	if len(f.Errors) > 0 {
		return nil, nil, caerr.New(caerr.LintFailed, "the certificate would fail lint: %s", strings.Join(f.Errors, "; "))
	}
	tbs, err := tbsOf(der)
	return tbs, f.Warnings, err
}

// sign signs a linted TBSCertificate with the issuer's real key and
// checks the signature against the issuer's certificate, as crypto/x509
// does after signing: a faulty signer (an HSM returning garbage, an RSA
// fault) is caught before anything is recorded. The lint stand-in has a
// key of the same type, so the TBS already names the algorithm this key
// signs with; a mismatch is refused rather than signed.
func (e *Engine) sign(ctx context.Context, tbs []byte, issuer *authority) (*x509.Certificate, error) {
	key, err := e.keys.Signer(ctx, issuer.keyID)
	if err != nil {
		return nil, err
	}
	alg, err := sigAlgFor(key.Public())
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tbsSignatureAlgorithm(tbs), alg.algID) {
		return nil, fmt.Errorf("the linted TBSCertificate names another signature algorithm than %s's key uses", issuer.name)
	}
	sig, err := alg.sign(key, tbs)
	e.metrics.signature("certificate", issuer.name, err)
	if err != nil {
		return nil, fmt.Errorf("signing with %s: %w", issuer.name, err)
	}
	der := certificateDER(tbs, alg.algID, sig)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("the certificate signed by %s does not parse: %w", issuer.name, err)
	}
	if err := issuer.cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, fmt.Errorf("the signature of %s's key does not verify: %w", issuer.name, err)
	}
	return cert, nil
}

// record stores an issued certificate under issuer, the key of the CA
// generation that signed it (GenerationIssuer), with the write makeAlong
// gives for its serial (nil for none) in the same transaction.
func (e *Engine) record(ctx context.Context, cert *x509.Certificate, p *profile.Profile, issuer string, by Requester, crlShard int,
	makeAlong func(string) (store.Along, error)) error {
	serial := FormatSerial(cert.SerialNumber)
	names := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	rec := store.Certificate{
		Serial: serial, Issuer: issuer, Profile: p.Name, Requester: by.String(),
		Subject: summary(cert.Subject, names), Names: names,
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: cert.Raw, CRLShard: crlShard,
	}
	ev := store.AuditEvent{Time: e.cfg.Now().UTC(), Actor: by.String(), Action: "issue", Object: serial, Result: "ok: profile " + p.Name + " " + rec.Subject, Org: p.Organisation}
	// The certificate is handed out only after this commit, so a crash
	// cannot leave a certificate in a client's hands that the store lacks.
	if makeAlong != nil {
		along, err := makeAlong(serial)
		if err != nil {
			return fmt.Errorf("%w: %w", store.ErrAlongFailed, err)
		}
		return e.store.InsertCertificateAlong(context.WithoutCancel(ctx), rec, ev, along)
	}
	return e.store.InsertCertificate(context.WithoutCancel(ctx), rec, ev)
}

// certificateDER is Certificate ::= SEQUENCE { tbsCertificate,
// signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1); no
// unused bits.
func certificateDER(tbs, algID, sig []byte) []byte {
	return appendTLV(nil, tagSequence, tbs, algID, appendTLV(nil, tagBitString, append([]byte{0}, sig...)))
}

func summary(subject pkix.Name, names []string) string {
	if subject.CommonName != "" {
		return subject.CommonName
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// CA/Browser Forum policy identifiers. ACME and EST issuance validate
// control of the names, which is what domain validation asserts (BR
// §7.1.6.1); code signing certificates carry the CS BR §7.1.6 identifier.
var (
	oidPolicyDV          = mustOID(2, 23, 140, 1, 2, 1)
	oidPolicyCodeSigning = mustOID(2, 23, 140, 1, 4, 1)
	oidPolicyTimestamp   = mustOID(2, 23, 140, 1, 4, 2)
)

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func mustOID(ints ...uint64) x509.OID {
	o, err := x509.OIDFromInts(ints)
	if err != nil {
		panic(err)
	}
	return o
}

func policiesFor(p *profile.Profile) []x509.OID {
	switch {
	case len(p.URIs) > 0:
		return nil // role client certificates (admin): no CA/B Forum policy applies
	case p.SubjectPattern != "":
		return []x509.OID{oidPolicyCodeSigning}
	}
	return []x509.OID{oidPolicyDV}
}
