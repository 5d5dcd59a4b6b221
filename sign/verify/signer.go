package verify

import (
	"bytes"
	"crypto/x509"
	"errors"
	"path"
	"slices"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// stamp is a verified time-stamp: its time and the TSA's chain.
type stamp struct {
	time  time.Time
	tsa   *x509.Certificate
	chain []*x509.Certificate // the TSA's verified chain, leaf first
}

// checkTimestamp verifies an RFC 3161 token (DER ContentInfo, or a whole
// TimeStampResp when resp is true) over signature: the token's own
// signature, its imprint, and its TSA certificate, which must chain to
// the root with EKU timeStamping at the time it states.
func (p *Policy) checkTimestamp(der []byte, resp bool, signature []byte) (*stamp, error) {
	var ts *timestamp.Timestamp
	var err error
	if resp {
		ts, err = timestamp.ParseResponse(der)
	} else {
		ts, err = timestamp.Parse(der)
	}
	if err != nil {
		return nil, fail(BadTimestamp, err, "the time-stamp token is invalid")
	}
	if !ts.HashAlgorithm.Available() {
		return nil, fail(BadTimestamp, nil, "the time-stamp uses an unsupported hash algorithm")
	}
	h := ts.HashAlgorithm.New()
	h.Write(signature)
	if !bytes.Equal(h.Sum(nil), ts.HashedMessage) {
		return nil, fail(BadTimestamp, nil, "the time-stamp is over something else than this signature")
	}
	var tsa *x509.Certificate
	if p7, err := pkcs7.Parse(ts.RawToken); err == nil {
		tsa = p7.GetOnlySigner()
	}
	inter := x509.NewCertPool()
	for _, c := range ts.Certificates {
		if tsa == nil || !c.Equal(tsa) {
			inter.AddCert(c)
		}
	}
	if tsa == nil {
		return nil, fail(BadTimestamp, nil, "the time-stamp token carries no TSA certificate (ask the TSA with certReq)")
	}
	chains, err := tsa.Verify(x509.VerifyOptions{Roots: p.pool(), Intermediates: inter, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}})
	if err != nil {
		return nil, fail(BadTimestamp, err, "the time-stamp is from a TSA outside this PKI (%s)", tsa.Subject)
	}
	return &stamp{time: ts.Time, tsa: tsa, chain: chains[0]}, nil
}

// checkSigner verifies the signer's chain to the root at the time of the
// time-stamp, its EKU codeSigning and its identity. It returns the
// verified chain, leaf first.
func (p *Policy) checkSigner(leaf *x509.Certificate, intermediates []*x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: p.pool(), Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := leaf.Verify(opts); err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return nil, fail(OutsideValidity, nil, "the time-stamp (%s) lies outside the signer certificate's validity (%s to %s)",
				at.UTC().Format(time.RFC3339), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		return nil, fail(UntrustedChain, err, "the signer certificate (%s) does not chain to the given root", leaf.Subject)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return nil, fail(NotCodeSigning, nil, "the signer certificate (%s) is not for code signing (no EKU codeSigning)", leaf.Subject)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, fail(NotCodeSigning, err, "the signer's chain does not allow code signing")
	}
	if !p.identityMatches(leaf) {
		return nil, fail(IdentityMismatch, nil, "the signer %q (URIs %v) does not match the identity %q", leaf.Subject.CommonName, leaf.URIs, p.Identity)
	}
	return chains[0], nil
}

// identityMatches checks the subject CN and every URI SAN against the
// pattern.
func (p *Policy) identityMatches(leaf *x509.Certificate) bool {
	if ok, _ := path.Match(p.Identity, leaf.Subject.CommonName); ok && leaf.Subject.CommonName != "" {
		return true
	}
	for _, u := range leaf.URIs {
		if ok, _ := path.Match(p.Identity, u.String()); ok {
			return true
		}
	}
	return false
}

func (p *Policy) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, r := range p.Roots {
		pool.AddCert(r)
	}
	return pool
}
