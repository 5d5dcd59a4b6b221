package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/internal/safefile"
	"github.com/vcc/vccpki/store"
)

// A CA below the offline root is made in three steps: vccpki ca request
// on the serving side (RequestCA: the CA's key in the serving key source,
// a request file with a PKCS#10 CSR signed by it, the same request kept
// pending in the data directory), vccpki ceremony create-ca on the root's
// host (RootHost.SignCA: the certificate CreateCA would make, signed by
// the offline root), and vccpki ceremony import on the serving side
// (importCACert: the certificate must be for the pending key and carry
// what the pending request asked; the CA's OCSP responder is then made).

// CARequestFormat names the request file vccpki ca request writes.
const CARequestFormat = "vccpki-ca-request/1"

// PendingCADir is the directory, in the data directory, of the requests
// waiting for their certificate.
const PendingCADir = "ca-requests"

// CARequestFile is the request file: the CreateCARequest with its
// defaults filled, the pending key's id and a CSR proving its possession.
type CARequestFile struct {
	Format       string   `json:"format"`
	RootSHA256   string   `json:"root_sha256"`
	Name         string   `json:"name"`
	Parent       string   `json:"parent"`
	CommonName   string   `json:"common_name"`
	KeyType      string   `json:"key_type"`
	PathLen      int      `json:"path_len"`
	ValiditySecs int64    `json:"validity_seconds"`
	PermittedDNS []string `json:"permitted_dns,omitempty"`
	ExcludedDNS  []string `json:"excluded_dns,omitempty"`
	PermittedIP  []string `json:"permitted_ip,omitempty"`
	ExcludedIP   []string `json:"excluded_ip,omitempty"`
	KeyID        string   `json:"key_id"`
	CSR          []byte   `json:"csr"`
	// Rollover marks a request for the next generation of the existing
	// CA Name (RequestRollover; vccpki ceremony rollover signs it), not
	// for a new CA; Generation is that generation.
	Rollover   bool `json:"rollover,omitempty"`
	Generation int  `json:"generation,omitempty"`
}

// ParseCARequest reads a request file's content.
func ParseCARequest(b []byte) (*CARequestFile, error) {
	if len(b) > MaxArtefactSize {
		return nil, caerr.New(caerr.Malformed, "a request file is at most %d bytes", MaxArtefactSize)
	}
	var f CARequestFile
	if err := json.Unmarshal(b, &f); err != nil || f.Format != CARequestFormat {
		return nil, caerr.New(caerr.Malformed, "not a CA request file (%s): %v", CARequestFormat, err)
	}
	return &f, nil
}

// Marshal is the request file's content.
func (f *CARequestFile) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	return append(b, '\n'), err
}

func (f *CARequestFile) request() (CreateCARequest, error) {
	r := CreateCARequest{Name: f.Name, Parent: f.Parent, CommonName: f.CommonName, KeyType: keys.Type(f.KeyType),
		PathLen: f.PathLen, Validity: time.Duration(f.ValiditySecs) * time.Second, PermittedDNS: f.PermittedDNS, ExcludedDNS: f.ExcludedDNS}
	var err error
	if r.PermittedIP, err = ParseCIDRs(f.PermittedIP); err != nil {
		return r, err
	}
	r.ExcludedIP, err = ParseCIDRs(f.ExcludedIP)
	return r, err
}

func cidrStrings(ns []*net.IPNet) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.String())
	}
	return out
}

// RequestCA is vccpki ca request: a new CA below the offline root, up to
// the root's signature. The key is made in ks and stored; the request is
// kept in pendingDir and returned for the root's host.
func RequestCA(ctx context.Context, st store.Store, ks keys.Source, cfg Config, req CreateCARequest, pendingDir, actor string) (*CARequestFile, error) {
	pr, err := prepareCA(ctx, st, &cfg, &req)
	if err != nil {
		return nil, err
	}
	if refuseOfflineKey(ctx, st, pr.parent.KeyID) == nil {
		return nil, caerr.New(caerr.Conflict, "the key of %s is online: make the CA with vccpki ca create", pr.parent.Name)
	}
	path := filepath.Join(pendingDir, req.Name+".json")
	if _, err := os.Stat(path); err == nil {
		return nil, caerr.New(caerr.Conflict, "a request for the CA %q is pending (%s): import its certificate, or delete the file to start again", req.Name, path)
	}
	root, err := rootRecord(ctx, st)
	if err != nil {
		return nil, err
	}
	keyID := fmt.Sprintf("%s-%d", req.Name, pr.now.Unix())
	signer, krec, err := ks.Create(ctx, keyID, req.KeyType)
	if err != nil {
		return nil, fmt.Errorf("creating the key of %s: %w", req.Name, err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: cfg.subject(req.CommonName)}, signer)
	if err != nil {
		return nil, err
	}
	f := &CARequestFile{Format: CARequestFormat, RootSHA256: RootFingerprint(root.DER), Name: req.Name, Parent: req.Parent,
		CommonName: req.CommonName, KeyType: string(req.KeyType), PathLen: req.PathLen, ValiditySecs: int64(req.Validity / time.Second),
		PermittedDNS: req.PermittedDNS, ExcludedDNS: req.ExcludedDNS, PermittedIP: cidrStrings(req.PermittedIP), ExcludedIP: cidrStrings(req.ExcludedIP),
		KeyID: keyID, CSR: csr}
	ev := store.AuditEvent{Time: pr.now, Actor: actor, Action: "ca.request", Object: req.Name + " under " + pr.parent.Name, Result: "ok"}
	if err := keepPendingRequest(ctx, st, krec, ev, f, path); err != nil {
		return nil, err
	}
	return f, nil
}

// keepPendingRequest stores the pending key (with ev) and writes the
// request file the ceremony reads, 0600, beside the other pending ones.
func keepPendingRequest(ctx context.Context, st store.Store, krec store.KeyRecord, ev store.AuditEvent, f *CARequestFile, path string) error {
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	if err := st.AddCAs(ctx, []store.KeyRecord{krec}, nil, ev); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return safefile.Write(path, b, 0o600)
}

// SignCA is ceremony create-ca: the certificate CreateCA would make for
// the request, signed by the offline root. st is the serving side's
// exported state (the parent and the names taken), cfg its configuration.
func (h *RootHost) SignCA(ctx context.Context, st store.Store, cfg Config, rf *CARequestFile) (*Artefact, error) {
	if err := h.checkSameRoot(ctx, st); err != nil {
		return nil, err
	}
	if rf.Rollover {
		return nil, caerr.New(caerr.Conflict, "the request is for a rollover of %s: sign it with vccpki ceremony rollover", rf.Name)
	}
	csr, err := h.checkRequest(rf)
	if err != nil {
		return nil, err
	}
	req, err := rf.request()
	if err != nil {
		return nil, err
	}
	pr, err := prepareCA(ctx, st, &cfg, &req)
	if err != nil {
		return nil, err
	}
	if pr.parent.Name != RootCA {
		return nil, caerr.New(caerr.Conflict, "the ceremony signs CAs below the root, not below %s", pr.parent.Name)
	}
	lt, err := newLinter()
	if err != nil {
		return nil, err
	}
	pr.tmpl.AuthorityKeyId = pr.parentCert.SubjectKeyId
	der, _, err := signCert(lt, req.Name, pr.tmpl, h.cert, csr.PublicKey, h.signer)
	if err != nil {
		return nil, caerr.New(caerr.LintFailed, "%v", err)
	}
	return &Artefact{Format: ArtefactFormat, Kind: ArtefactCACert, RootSHA256: RootFingerprint(h.cert.Raw), Name: req.Name, Created: pr.now, DER: der}, nil
}

// checkRequest checks that a request file is for this root and that its
// CSR is signed by the key it carries, and returns the CSR.
func (h *RootHost) checkRequest(rf *CARequestFile) (*x509.CertificateRequest, error) {
	if rf.RootSHA256 != RootFingerprint(h.cert.Raw) {
		return nil, caerr.New(caerr.Conflict, "the request is for another hierarchy (root %.16s…) than this root directory's", rf.RootSHA256)
	}
	csr, err := x509.ParseCertificateRequest(rf.CSR)
	if err != nil {
		return nil, caerr.New(caerr.BadCSR, "the request's CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, caerr.New(caerr.BadCSR, "the request's CSR signature does not verify (tampered?): %v", err)
	}
	return csr, nil
}

// readPending reads the pending request for the CA name.
func readPending(pendingDir, name string) (*CARequestFile, string, error) {
	path := filepath.Join(pendingDir, name+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", caerr.New(caerr.NotFound, "no pending request for the CA %q in this data directory (vccpki ca request or vccpki ca rollover --request-out makes one)", name)
	}
	if err != nil {
		return nil, "", err
	}
	rf, err := ParseCARequest(b)
	return rf, path, err
}

// pendingCertificate parses a ceremony's certificate artefact, checks the
// root signed it, and reads the pending request it answers.
func pendingCertificate(pendingDir string, root *x509.Certificate, a *Artefact) (*x509.Certificate, *CARequestFile, string, error) {
	c, err := x509.ParseCertificate(a.DER)
	if err != nil {
		return nil, nil, "", caerr.New(caerr.Malformed, "the artefact's certificate: %v", err)
	}
	if err := c.CheckSignatureFrom(root); err != nil {
		return nil, nil, "", caerr.New(caerr.Unauthorized, "the artefact's certificate is not signed by this hierarchy's root (tampered?): %v", err)
	}
	rf, path, err := readPending(pendingDir, a.Name)
	return c, rf, path, err
}

// pendingSigner returns the pending request's key, which c must certify.
func pendingSigner(ctx context.Context, ks keys.Source, rf *CARequestFile, name string, c *x509.Certificate) (crypto.Signer, error) {
	signer, err := ks.Signer(ctx, rf.KeyID)
	if err != nil {
		return nil, fmt.Errorf("the pending key of %s: %w", name, err)
	}
	if !publicKeysEqual(signer.Public(), c.PublicKey) {
		return nil, caerr.New(caerr.Conflict, "the certificate is not for the pending key of %s (another request's?)", name)
	}
	return signer, nil
}

// importCACert completes a pending request with its certificate.
func importCACert(ctx context.Context, st store.Store, ks keys.Source, cfg Config, pendingDir string, root *x509.Certificate, a *Artefact, actor string) (string, error) {
	c, rf, path, err := pendingCertificate(pendingDir, root, a)
	if err != nil {
		return "", err
	}
	if rf.Rollover {
		return "", caerr.New(caerr.Conflict, "the pending request for %s is for a rollover, and this artefact is a new CA's certificate", a.Name)
	}
	req, err := rf.request()
	if err != nil {
		return "", err
	}
	pr, err := prepareCA(ctx, st, &cfg, &req)
	if err != nil {
		return "", err
	}
	signer, err := pendingSigner(ctx, ks, rf, a.Name, c)
	if err != nil {
		return "", err
	}
	if err := sameCA(pr.tmpl, c); err != nil {
		return "", caerr.New(caerr.Conflict, "the certificate is not what the pending request for %s asked: %v", a.Name, err)
	}
	plan := []planned{ocspPlanFor(&cfg, req.Name, req.CommonName, pr.now)}
	keyRecs, caRecs, err := signPlan(ctx, ks, &cfg, plan, pr.now,
		map[string]*x509.Certificate{req.Name: c}, map[string]crypto.Signer{req.Name: signer})
	if err != nil {
		return "", caerr.New(caerr.LintFailed, "%v", err)
	}
	rec := store.CARecord{Name: req.Name, Role: "intermediate", Parent: pr.parent.Name, KeyID: rf.KeyID, DER: a.DER, CreatedAt: pr.now}
	ev := store.AuditEvent{Time: pr.now, Actor: actor, Action: "ca.create", Object: req.Name + " under " + pr.parent.Name + " (offline root ceremony)", Result: "ok"}
	if err := st.AddCAs(ctx, keyRecs, append([]store.CARecord{rec}, caRecs...), ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", caerr.New(caerr.Conflict, "a CA named %q exists already", req.Name)
		}
		return "", err
	}
	_ = os.Remove(path)
	return fmt.Sprintf("imported the CA %s (serial %s) below %s, and made its OCSP responder", req.Name, FormatSerial(c.SerialNumber), pr.parent.Name), nil
}

// sameCA checks that c carries what the template of its request says:
// subject (to the byte where the template has raw bytes: a rollover keeps
// the old generation's), CA-ness, path length, key usage, EKUs, name
// constraints and certificate policies.
func sameCA(t, c *x509.Certificate) error {
	switch {
	case t.Subject.String() != c.Subject.String() || t.RawSubject != nil && !bytes.Equal(t.RawSubject, c.RawSubject):
		return fmt.Errorf("subject %q, requested %q", c.Subject, t.Subject)
	case !c.IsCA || !c.BasicConstraintsValid:
		return errors.New("not a CA certificate")
	case t.MaxPathLen != c.MaxPathLen || t.MaxPathLenZero != c.MaxPathLenZero && t.MaxPathLen == 0:
		return fmt.Errorf("path length %d, requested %d", c.MaxPathLen, t.MaxPathLen)
	case t.KeyUsage != c.KeyUsage || !slices.Equal(t.ExtKeyUsage, c.ExtKeyUsage):
		return errors.New("key usage or extended key usage differ")
	case !slices.Equal(t.PermittedDNSDomains, c.PermittedDNSDomains) || !slices.Equal(t.ExcludedDNSDomains, c.ExcludedDNSDomains) ||
		!slices.Equal(cidrStrings(t.PermittedIPRanges), cidrStrings(c.PermittedIPRanges)) || !slices.Equal(cidrStrings(t.ExcludedIPRanges), cidrStrings(c.ExcludedIPRanges)) ||
		!slices.Equal(t.PermittedEmailAddresses, c.PermittedEmailAddresses) || !slices.Equal(t.ExcludedEmailAddresses, c.ExcludedEmailAddresses) ||
		!slices.Equal(t.PermittedURIDomains, c.PermittedURIDomains) || !slices.Equal(t.ExcludedURIDomains, c.ExcludedURIDomains) ||
		t.PermittedDNSDomainsCritical != c.PermittedDNSDomainsCritical:
		return errors.New("name constraints differ")
	case !slices.EqualFunc(t.Policies, c.Policies, func(x, y x509.OID) bool { return x.Equal(y) }):
		return errors.New("certificate policies differ")
	}
	return nil
}
