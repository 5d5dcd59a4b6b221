package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// An issuing CA below the offline root is rolled over in three steps, as
// it is created: vccpki ca rollover --request-out on the serving side
// (RequestRollover: the next generation's key in the serving key source,
// a request file with a CSR signed by it, kept pending), vccpki ceremony
// rollover on the root's host (RootHost.SignRollover: the certificate
// RolloverCA would make, from the same template, signed by the offline
// root), and vccpki ceremony import on the serving side (importRollover:
// the certificate must be for the pending key, signed by this root, and
// carry the current generation's subject and constraints; the new
// generation, its OCSP responder and its link certificate, signed by the
// previous generation's online key, are then stored as RolloverCA does).

// RequestRollover is vccpki ca rollover --request-out: the next
// generation of an issuing CA whose parent is the offline root, up to the
// root's signature.
func RequestRollover(ctx context.Context, st store.Store, ks keys.Source, cfg Config, req RolloverCARequest, pendingDir, actor string) (*CARequestFile, error) {
	p, err := prepareRollover(ctx, st, &cfg, req)
	if err != nil {
		return nil, err
	}
	if refuseOfflineKey(ctx, st, p.parent.KeyID) == nil {
		return nil, caerr.New(caerr.Conflict, "the key of %s is online: roll %s over with vccpki ca rollover (no request)", p.parent.Name, req.Name)
	}
	path := filepath.Join(pendingDir, req.Name+".json")
	if _, err := os.Stat(path); err == nil {
		return nil, caerr.New(caerr.Conflict, "a request for the CA %q is pending (%s): import its certificate, or delete the file to start again", req.Name, path)
	}
	root, err := rootRecord(ctx, st)
	if err != nil {
		return nil, err
	}
	keyID := fmt.Sprintf("%s-%d%s", req.Name, p.now.Unix(), p.suffix())
	signer, krec, err := ks.Create(ctx, keyID, p.cc.KeyType)
	if err != nil {
		return nil, fmt.Errorf("creating the key of %s: %w", req.Name, err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{RawSubject: p.oc.RawSubject}, signer)
	if err != nil {
		return nil, err
	}
	f := &CARequestFile{Format: CARequestFormat, RootSHA256: RootFingerprint(root.DER), Name: req.Name, Parent: p.parent.Name,
		CommonName: p.oc.Subject.CommonName, KeyType: string(p.cc.KeyType), PathLen: p.tmpl.MaxPathLen,
		ValiditySecs: int64(p.cc.Validity.Seconds()), KeyID: keyID, CSR: csr, Rollover: true, Generation: p.gen}
	ev := store.AuditEvent{Time: p.now, Actor: actor, Action: "ca.request", Object: fmt.Sprintf("rollover of %s to generation %d", req.Name, p.gen), Result: "ok"}
	if err := keepPendingRequest(ctx, st, krec, ev, f, path); err != nil {
		return nil, err
	}
	return f, nil
}

// SignRollover is ceremony rollover: the next generation's certificate
// of the CA the request names, from the same template as RolloverCA (the
// current generation's certificate in st, the serving side's exported
// state: the request carries no constraints to widen), for the request's
// key, signed by the offline root.
func (h *RootHost) SignRollover(ctx context.Context, st store.Store, cfg Config, rf *CARequestFile) (*Artefact, error) {
	if err := h.checkSameRoot(ctx, st); err != nil {
		return nil, err
	}
	if !rf.Rollover {
		return nil, caerr.New(caerr.Conflict, "the request is for a new CA %s, not a rollover: sign it with vccpki ceremony create-ca", rf.Name)
	}
	csr, err := h.checkRequest(rf)
	if err != nil {
		return nil, err
	}
	kt, err := keys.TypeOf(csr.PublicKey)
	if err != nil {
		return nil, caerr.New(caerr.BadCSR, "the request's key: %v", err)
	}
	p, err := prepareRollover(ctx, st, &cfg, RolloverCARequest{Name: rf.Name, KeyType: kt})
	if err != nil {
		return nil, err
	}
	if p.parent.Name != RootCA {
		return nil, caerr.New(caerr.Conflict, "the ceremony rolls over CAs below the root, not below %s", p.parent.Name)
	}
	if publicKeysEqual(csr.PublicKey, p.oc.PublicKey) {
		return nil, caerr.New(caerr.Conflict, "the request is for the current key of %s: a rollover needs a new key", rf.Name)
	}
	lt, err := newLinter()
	if err != nil {
		return nil, err
	}
	der, _, err := signCert(lt, rf.Name, p.tmpl, h.cert, csr.PublicKey, h.signer)
	if err != nil {
		return nil, caerr.New(caerr.LintFailed, "%v", err)
	}
	return &Artefact{Format: ArtefactFormat, Kind: ArtefactCARollover, RootSHA256: RootFingerprint(h.cert.Raw), Name: rf.Name, Created: p.now, DER: der}, nil
}

// importRollover installs a ceremony's rollover certificate as the CA's
// next generation, with a new OCSP responder signed by the new key.
func importRollover(ctx context.Context, st store.Store, ks keys.Source, cfg Config, pendingDir string, root *x509.Certificate, a *Artefact, actor string) (string, error) {
	c, rf, path, err := pendingCertificate(pendingDir, root, a)
	if err != nil {
		return "", err
	}
	if !rf.Rollover {
		return "", caerr.New(caerr.Conflict, "the pending request for %s is for a new CA, and this artefact is a rollover's certificate", a.Name)
	}
	p, err := prepareRollover(ctx, st, &cfg, RolloverCARequest{Name: a.Name, KeyType: keys.Type(rf.KeyType)})
	if err != nil {
		return "", err
	}
	if p.gen != rf.Generation {
		return "", caerr.New(caerr.Conflict, "the pending rollover of %s was for generation %d, but the CA is now at generation %d", a.Name, rf.Generation, p.gen-1)
	}
	if p.parent.Name != RootCA {
		return "", caerr.New(caerr.Conflict, "the parent of %s is %s, not the root", a.Name, p.parent.Name)
	}
	signer, err := pendingSigner(ctx, ks, rf, a.Name, c)
	if err != nil {
		return "", err
	}
	if err := sameCA(p.tmpl, c); err != nil {
		return "", caerr.New(caerr.Conflict, "the certificate is not the next generation of %s: %v", a.Name, err)
	}
	plan := []planned{ocspPlanFor(&cfg, a.Name, p.oc.Subject.CommonName, p.now)}
	keyRecs, caRecs, err := signPlan(ctx, suffixedKeys{ks, p.suffix()}, &cfg, plan, p.now,
		map[string]*x509.Certificate{a.Name: c}, map[string]crypto.Signer{a.Name: signer})
	if err != nil {
		return "", caerr.New(caerr.LintFailed, "%v", err)
	}
	for i := range caRecs {
		caRecs[i].KeyID += p.suffix()
	}
	// The previous generation's key is online (an intermediate's): it
	// signs the link certificate here, as RolloverCA does.
	link, err := p.linkCert(ctx, ks, &cfg, c)
	if err != nil {
		return "", caerr.New(caerr.LintFailed, "%v", err)
	}
	rec := store.CARecord{Name: a.Name, Role: "intermediate", Parent: RootCA, KeyID: rf.KeyID, DER: a.DER, CreatedAt: p.now, Generation: p.gen, LinkDER: link}
	if err := p.store(ctx, st, keyRecs, append([]store.CARecord{rec}, caRecs...), actor, " (offline root ceremony)"); err != nil {
		return "", err
	}
	_ = os.Remove(path)
	return fmt.Sprintf("imported generation %d of the CA %s (serial %s, subject key identifier %x), and made its OCSP responder; generation %d is retired",
		p.gen, a.Name, FormatSerial(c.SerialNumber), c.SubjectKeyId, p.gen-1), nil
}
