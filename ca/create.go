package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// CreateCARequest describes a new issuing CA (vccpki ca create, POST
// /api/v1/cas).
type CreateCARequest struct {
	Name       string // URL-safe: lowercase letters, digits and dashes
	Parent     string // the root or another issuing CA
	CommonName string // default: "<Organization> <Name> CA"
	KeyType    keys.Type
	// PathLen is the basicConstraints pathLenConstraint: 0 for a CA that
	// signs only end-entity certificates, 1 for one that may have issuing
	// CAs below it (an External Organizations CA).
	PathLen  int
	Validity time.Duration // default: the Services CA's; capped at the parent's notAfter
	// Name constraints (RFC 5280 §4.2.1.10), written critical.
	PermittedDNS, ExcludedDNS []string
	PermittedIP, ExcludedIP   []*net.IPNet
	// Organisation owns the new CA (docs/organisations.md): its profiles
	// may name it. "" is the operator.
	Organisation string
}

var caNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// reservedCANames are names the hierarchy uses for itself or that URLs
// give a meaning to.
var reservedCANames = []string{RootCA, TSAName, HTTPSName}

// Validate checks the request and fills defaults; errors are Malformed.
func (r *CreateCARequest) Validate(cfg *Config) error {
	bad := func(f string, a ...any) error { return caerr.New(caerr.Malformed, f, a...) }
	switch {
	case !caNameRE.MatchString(r.Name):
		return bad("CA name %q: use 1 to 63 lowercase letters, digits and dashes, starting with a letter", r.Name)
	case slices.Contains(reservedCANames, r.Name) || strings.HasPrefix(r.Name, "ocsp-"):
		return bad("CA name %q is reserved", r.Name)
	case r.Parent == "":
		return bad("a new CA needs a parent (the root or an issuing CA)")
	case r.PathLen < 0 || r.PathLen > 4:
		return bad("path length %d: use 0 to 4", r.PathLen)
	case r.Validity < 0:
		return bad("validity must be positive")
	}
	if r.KeyType == "" {
		r.KeyType = cfg.Hierarchy.Services.KeyType
	}
	if _, err := keys.ParseType(string(r.KeyType)); err != nil {
		return bad("key type: %v", err)
	}
	if r.Validity == 0 {
		r.Validity = cfg.Hierarchy.Services.Validity
	}
	if r.CommonName == "" {
		r.CommonName = strings.TrimSpace(cfg.Hierarchy.Organization + " " + r.Name + " CA")
	}
	for _, d := range slices.Concat(r.PermittedDNS, r.ExcludedDNS) {
		if !validDNSConstraint(d) {
			return bad("DNS name constraint %q is not a domain name (e.g. partner.example or .partner.example)", d)
		}
	}
	return nil
}

// validDNSConstraint: a domain name, optionally with a leading dot.
func validDNSConstraint(d string) bool {
	d = strings.TrimPrefix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") ||
			strings.ContainsFunc(l, func(c rune) bool {
				return !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
			}) {
			return false
		}
	}
	return true
}

// ParseCIDRs reads IP name constraints ("10.0.0.0/8", "2001:db8::/32");
// errors are Malformed.
func ParseCIDRs(ss []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range ss {
		ip, n, err := net.ParseCIDR(s)
		if err != nil || !ip.Equal(n.IP) {
			return nil, caerr.New(caerr.Malformed, "%q is not a network in CIDR notation (e.g. 10.0.0.0/8)", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// CreateCA adds an issuing CA below req.Parent: a key in the key source
// the other CAs use, a CA certificate with the request's name constraints
// (critical, RFC 5280 §4.2.1.10) and path length signed by the parent,
// and the CA's delegated OCSP responder certificate (RFC 6960
// §4.2.2.2), stored in one transaction with one audit event. The parent
// must be the root or an unrevoked issuing CA whose pathLenConstraint
// leaves room for another CA. A running engine sees the CA after Refresh
// (Engine.CreateCA refreshes at once).
func CreateCA(ctx context.Context, st store.Store, ks keys.Source, cfg Config, req CreateCARequest, actor string) (*x509.Certificate, error) {
	pr, err := prepareCA(ctx, st, &cfg, &req)
	if err != nil {
		return nil, err
	}
	parent, pc := pr.parent, pr.parentCert
	if err := refuseOfflineKey(ctx, st, parent.KeyID); err != nil {
		return nil, err
	}
	signer, err := ks.Signer(ctx, parent.KeyID)
	if err != nil {
		return nil, fmt.Errorf("the key of %s: %w", parent.Name, err)
	}
	now, cc, tmpl := pr.now, pr.cc, pr.tmpl
	plan := []planned{{req.Name, "intermediate", parent.Name, cc, tmpl}, ocspPlanFor(&cfg, req.Name, req.CommonName, now)}
	keyRecs, caRecs, err := signPlan(ctx, ks, &cfg, plan, now,
		map[string]*x509.Certificate{parent.Name: pc}, map[string]crypto.Signer{parent.Name: signer})
	if err != nil {
		return nil, caerr.New(caerr.LintFailed, "%v", err)
	}
	// The certificate itself records the constraints; the entry names the parent.
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "ca.create", Object: req.Name + " under " + parent.Name, Result: "ok", Org: req.Organisation}
	caRecs[0].Org = req.Organisation
	if err := st.AddCAs(ctx, keyRecs, caRecs, ev); err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			return nil, caerr.New(caerr.Conflict, "a CA named %q exists already", req.Name)
		case errors.Is(err, store.ErrNotFound):
			return nil, caerr.New(caerr.NotFound, "no organisation %q (vccpki org create makes one)", req.Organisation)
		}
		return nil, err
	}
	return x509.ParseCertificate(caRecs[0].DER)
}

// CreateCA adds an issuing CA (the package's CreateCA) and makes it part
// of this engine's hierarchy at once.
func (e *Engine) CreateCA(ctx context.Context, req CreateCARequest, actor string) (*x509.Certificate, error) {
	c, err := CreateCA(ctx, e.store, e.keys, e.cfg, req, actor)
	if err != nil {
		return nil, err
	}
	if _, err := e.Refresh(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// preparedCA is a validated CreateCARequest with its parent and the
// template of its certificate: what CreateCA and the offline-root
// ceremony (ceremony_ca.go) sign.
type preparedCA struct {
	parent     *store.CARecord
	parentCert *x509.Certificate
	now        time.Time
	cc         CertConfig
	tmpl       *x509.Certificate
}

// prepareCA validates req against cfg and the CA records of st and builds
// the template of the new CA's certificate.
func prepareCA(ctx context.Context, st store.Store, cfg *Config, req *CreateCARequest) (*preparedCA, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := req.Validate(cfg); err != nil {
		return nil, err
	}
	recs, err := st.CAs(ctx)
	if err != nil {
		return nil, err
	}
	var parent *store.CARecord
	for i, r := range recs {
		if r.Name == req.Name || r.Name == OCSPResponderName(req.Name) {
			return nil, caerr.New(caerr.Conflict, "a CA named %q exists already", r.Name)
		}
		if r.Name == req.Parent {
			parent = &recs[i]
		}
	}
	if parent == nil || (parent.Role != "root" && parent.Role != "intermediate") {
		return nil, caerr.New(caerr.NotFound, "no CA named %q to sign the new CA (the root or an issuing CA)", req.Parent)
	}
	if !parent.RevokedAt.IsZero() {
		return nil, caerr.New(caerr.Conflict, "the parent CA %s is revoked", parent.Name)
	}
	// Checked before any key is made (a token keeps what it generated).
	if o := req.Organisation; o != "" && o != store.OperatorOrg {
		if !store.ValidOrgName(o) {
			return nil, caerr.New(caerr.Malformed, "%q is not an organisation name (a lowercase DNS label)", o)
		}
		if _, err := st.Organisation(ctx, o); errors.Is(err, store.ErrNotFound) {
			return nil, caerr.New(caerr.NotFound, "no organisation %q (vccpki org create makes one)", o)
		} else if err != nil {
			return nil, err
		}
	}
	pc, err := x509.ParseCertificate(parent.DER)
	if err != nil {
		return nil, fmt.Errorf("CA record %q: %w", parent.Name, err)
	}
	// RFC 5280 §4.2.1.9: pathLenConstraint counts the non-self-issued CA
	// certificates that may follow this one.
	if pc.MaxPathLen == 0 && pc.MaxPathLenZero || pc.MaxPathLen > 0 && req.PathLen >= pc.MaxPathLen {
		return nil, caerr.New(caerr.Conflict, "the path length of %s (%d) leaves no room for a CA with path length %d below it", parent.Name, pc.MaxPathLen, req.PathLen)
	}
	now := cfg.Now().UTC().Truncate(time.Second)
	cc := CertConfig{CommonName: req.CommonName, KeyType: req.KeyType, Validity: req.Validity}
	// The EKUs of the parent, or the Services CA's for a CA below the root
	// (BR §7.1.2.2: a subordinate CA names the purposes it issues for).
	eku := pc.ExtKeyUsage
	if len(eku) == 0 {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	tmpl := caTemplate(cfg, cc, now, req.PathLen, slices.Clone(eku), oidPolicyDV)
	withIssuerURLs(cfg, tmpl, parent.Name, false)
	tmpl.PermittedDNSDomains, tmpl.ExcludedDNSDomains = req.PermittedDNS, req.ExcludedDNS
	tmpl.PermittedIPRanges, tmpl.ExcludedIPRanges = req.PermittedIP, req.ExcludedIP
	tmpl.PermittedDNSDomainsCritical = len(req.PermittedDNS)+len(req.ExcludedDNS)+len(req.PermittedIP)+len(req.ExcludedIP) > 0
	if tmpl.NotAfter.After(pc.NotAfter) {
		tmpl.NotAfter = pc.NotAfter
	}
	return &preparedCA{parent: parent, parentCert: pc, now: now, cc: cc, tmpl: tmpl}, nil
}
