package ca

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// ArtefactFormat names the container a ceremony writes: one JSON object
// whose der field (base64) is a standard X.509 object signed by the
// offline root: a CRL (kind root-crl, RFC 5280 §5) or a CA certificate
// (kind ca-certificate). The container itself is not signed: the signed
// object inside is checked against the serving store's root on import.
const ArtefactFormat = "vccpki-ceremony/1"

// Artefact kinds.
const (
	ArtefactRootCRL = "root-crl"
	ArtefactCACert  = "ca-certificate"
	// ArtefactCARollover is the certificate of an issuing CA's next
	// generation (vccpki ceremony rollover).
	ArtefactCARollover = "ca-rollover-certificate"
)

// MaxArtefactSize bounds an artefact or request file read.
const MaxArtefactSize = 1 << 20

// Artefact is what a ceremony hands to the serving side.
type Artefact struct {
	Format string `json:"format"`
	Kind   string `json:"kind"`
	// RootSHA256 is the hex SHA-256 of the root certificate that signed DER.
	RootSHA256 string    `json:"root_sha256"`
	Name       string    `json:"name,omitempty"` // ca-certificate: the new CA's name
	Created    time.Time `json:"created"`
	DER        []byte    `json:"der"`
}

// ParseArtefact reads an artefact file's content.
func ParseArtefact(b []byte) (*Artefact, error) {
	if len(b) > MaxArtefactSize {
		return nil, caerr.New(caerr.Malformed, "an artefact is at most %d bytes", MaxArtefactSize)
	}
	var a Artefact
	if err := json.Unmarshal(b, &a); err != nil || a.Format != ArtefactFormat {
		return nil, caerr.New(caerr.Malformed, "not a ceremony artefact (%s): %v", ArtefactFormat, err)
	}
	return &a, nil
}

// Marshal is the artefact file's content.
func (a *Artefact) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(a, "", "  ")
	return append(b, '\n'), err
}

// ImportArtefact loads a ceremony's artefact into the serving store: a
// root CRL becomes the one the server serves (Engine.Refresh takes it
// up); a CA certificate completes a vccpki ca request (ImportCACert). An
// artefact for another hierarchy, or whose signature does not verify
// against this store's root (tampered), is refused.
func ImportArtefact(ctx context.Context, st store.Store, ks keys.Source, cfg Config, pendingDir string, a *Artefact, actor string) (string, error) {
	root, err := rootRecord(ctx, st)
	if err != nil {
		return "", err
	}
	if fp := RootFingerprint(root.DER); a.RootSHA256 != fp {
		return "", caerr.New(caerr.Conflict, "this artefact was made for another hierarchy (root %.16s…), not this data directory's (root %.16s…)", a.RootSHA256, fp)
	}
	rc, err := x509.ParseCertificate(root.DER)
	if err != nil {
		return "", err
	}
	switch a.Kind {
	case ArtefactRootCRL:
		return importRootCRL(ctx, st, rc, a, actor)
	case ArtefactCACert:
		return importCACert(ctx, st, ks, cfg, pendingDir, rc, a, actor)
	case ArtefactCARollover:
		return importRollover(ctx, st, ks, cfg, pendingDir, rc, a, actor)
	}
	return "", caerr.New(caerr.Malformed, "unknown artefact kind %q", a.Kind)
}

func importRootCRL(ctx context.Context, st store.Store, root *x509.Certificate, a *Artefact, actor string) (string, error) {
	crl, err := x509.ParseRevocationList(a.DER)
	if err != nil {
		return "", caerr.New(caerr.Malformed, "the artefact's CRL: %v", err)
	}
	if err := crl.CheckSignatureFrom(root); err != nil {
		return "", caerr.New(caerr.Unauthorized, "the artefact's CRL is not signed by this hierarchy's root (tampered?): %v", err)
	}
	if crl.Number == nil || !crl.Number.IsInt64() {
		return "", caerr.New(caerr.Malformed, "the artefact's CRL has no CRL number")
	}
	n := crl.Number.Int64()
	if cur, err := st.LatestCRL(ctx, RootCA, 0); err == nil && cur.Number >= n {
		return "", caerr.New(caerr.Conflict, "the root CRL number %d is not newer than the one imported already (%d)", n, cur.Number)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	sc := store.SharedCRL{Issuer: RootCA, Number: n, ThisUpdate: crl.ThisUpdate, NextUpdate: crl.NextUpdate,
		Entries: len(crl.RevokedCertificateEntries), DER: a.DER}
	if err := st.PutCRL(ctx, sc); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("root CRL %d (%d entries), next update %s", n, sc.Entries, crl.NextUpdate.UTC().Format(time.RFC3339))
	if err := st.AppendAudit(ctx, store.AuditEvent{Actor: actor, Action: "ceremony.import", Object: msg, Result: "ok"}); err != nil {
		return "", err
	}
	return "imported " + msg, nil
}
