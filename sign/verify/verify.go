// Package verify checks the signatures sign/ writes, for the vccpki
// verify commands and for services that must verify an artifact before
// loading it. A signature verifies only when the signer's chain reaches
// the given root, the signer has EKU codeSigning and the expected
// identity, an RFC 3161 time-stamp from a TSA of the same PKI lies in the
// signer's validity, the signer was not revoked before it (nor ever for
// keyCompromise), and every digest matches.
package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vcc/vccpki/sign"
)

// Policy is what a signature must satisfy.
type Policy struct {
	// Roots are the trust anchors (vccpki's root certificate).
	Roots []*x509.Certificate
	// Identity is a path.Match pattern the signer's subject CN or one of
	// its URI SANs must match, e.g. "clara-*" (the clara-signing
	// profile's pattern).
	Identity string
	// Revocation checks the signer's status; nil means Online{} (OCSP at
	// the AIA URL, then the CRL).
	Revocation RevocationChecker
	// Workers digest files in parallel (default GOMAXPROCS).
	Workers int
}

// Result describes a verified signature.
type Result struct {
	Signer    *x509.Certificate
	Chain     []*x509.Certificate // verified, signer first, root last
	Time      time.Time           // the time-stamp's time
	TSA       *x509.Certificate
	Format    string // "oms", "bundle" or "cms"
	Files     int    // files checked (1 for a single file)
	ModelName string // the OMS subject name
}

// NewPolicy reads the root certificates from a PEM file.
func NewPolicy(rootFile, identity string) (*Policy, error) {
	roots, err := sign.ReadCertificates(rootFile)
	if err != nil {
		return nil, err
	}
	if identity == "" {
		return nil, errors.New("an identity pattern is needed (e.g. clara-*)")
	}
	return &Policy{Roots: roots, Identity: identity}, nil
}

func (p *Policy) check() error {
	if len(p.Roots) == 0 {
		return errors.New("verify: no root certificate")
	}
	if p.Identity == "" {
		return errors.New("verify: no identity pattern")
	}
	return nil
}

func (p *Policy) revocation() RevocationChecker {
	if p.Revocation != nil {
		return p.Revocation
	}
	return Online{}
}

// VerifyModel verifies an OMS signature (a Sigstore bundle) of a model
// directory: the signature, the signer, the time-stamp, and that the
// directory holds exactly the signed files with the signed digests.
// The signed ignore_paths are left out of the comparison.
func (p *Policy) VerifyModel(ctx context.Context, dir string, bundleJSON []byte) (res *Result, err error) {
	defer func() { observe(err) }()
	if err := p.check(); err != nil {
		return nil, err
	}
	b, err := loadBundle(bundleJSON)
	if err != nil {
		return nil, err
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, fail(Malformed, nil, "the bundle holds no DSSE envelope: not a model signature")
	}
	if env.PayloadType != sign.InTotoPayloadType {
		return nil, fail(Malformed, nil, "DSSE payload type %q, want %q", env.PayloadType, sign.InTotoPayloadType)
	}
	res, err = p.verifyBundle(ctx, b, "")
	if err != nil {
		return nil, err
	}
	st, want, err := sign.ParseStatement(env.Payload)
	if err != nil {
		return nil, fail(Malformed, err, "the signed statement is not an OpenSSF model signature")
	}
	got, err := sign.BuildManifest(dir, sign.ManifestOptions{Ignore: st.Predicate.Serialization.IgnorePaths, Workers: p.Workers})
	if err != nil {
		return nil, err
	}
	d := sign.Compare(want, got.Files)
	switch {
	case len(d.Changed) > 0:
		return nil, fail(ContentChanged, nil, "%d file(s) differ from the signed ones: %s", len(d.Changed), list(d.Changed))
	case len(d.Added) > 0:
		return nil, fail(FileAdded, nil, "%d file(s) were not signed: %s", len(d.Added), list(d.Added))
	case len(d.Removed) > 0:
		return nil, fail(FileRemoved, nil, "%d signed file(s) are missing: %s", len(d.Removed), list(d.Removed))
	}
	res.Format, res.Files, res.ModelName = "oms", len(got.Files), st.Subject[0].Name
	return res, nil
}

func list(names []string) string {
	if len(names) > 5 {
		return fmt.Sprintf("%v and %d more", names[:5], len(names)-5)
	}
	return fmt.Sprint(names)
}

// VerifyFile verifies a file's signature: a Sigstore blob bundle (JSON)
// or a CMS detached signature (DER or PEM), told apart by their first
// byte.
func (p *Policy) VerifyFile(ctx context.Context, file string, sig []byte) (res *Result, err error) {
	defer func() { observe(err) }()
	if err := p.check(); err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(sig); len(t) > 0 && t[0] == '{' {
		b, err := loadBundle(sig)
		if err != nil {
			return nil, err
		}
		if b.GetMessageSignature() == nil {
			return nil, fail(Malformed, nil, "the bundle holds no message signature: not a file signature (a model signature? use verify model)")
		}
		res, err = p.verifyBundle(ctx, b, file)
		if err != nil {
			return nil, err
		}
		res.Format, res.Files = "bundle", 1
		return res, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	res, err = p.verifyCMS(ctx, data, sig)
	if err != nil {
		return nil, err
	}
	res.Format, res.Files = "cms", 1
	return res, nil
}

// finish checks revocation at the time-stamp and builds the result.
func (p *Policy) finish(ctx context.Context, chain []*x509.Certificate, ts *stamp) (*Result, error) {
	issuer := chain[0]
	if len(chain) > 1 {
		issuer = chain[1]
	}
	if err := p.revocation().Check(ctx, chain[0], issuer, ts.time); err != nil {
		if _, ok := KindOf(err); ok {
			return nil, err
		}
		return nil, fail(RevocationUnknown, err, "checking the signer's revocation")
	}
	return &Result{Signer: chain[0], Chain: chain, Time: ts.time, TSA: ts.tsa}, nil
}

// digestHex is for messages.
func digestHex(b []byte) string { return hex.EncodeToString(b) }
