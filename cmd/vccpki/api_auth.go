package main

import (
	"context"
	"crypto/x509"
	"net/http"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
)

// apiAuthenticator builds who may call the management API.
//
// This is the api-core branch's placeholder, kept minimal on purpose: the
// authenticators (OIDC bearer tokens, client certificates of the VCC
// Admin CA) come with the auth branch, whose api_auth.go replaces this
// file. Here a client certificate chaining to the root is a principal
// with no role (every call 403); anything else has no credentials (401).
func apiAuthenticator(ctx context.Context, a *app, e *ca.Engine) (auth.Authenticator, error) {
	_, _ = ctx, a
	roots := x509.NewCertPool()
	roots.AddCert(e.Root())
	return auth.Chain{rootCertificates{roots: roots}}, nil
}

type rootCertificates struct{ roots *x509.CertPool }

func (rc rootCertificates) Authenticate(r *http.Request) (*auth.Principal, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, auth.ErrNoCredentials
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: rc.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, auth.Unauthorized("the client certificate does not chain to this CA's root")
	}
	return &auth.Principal{Method: auth.MethodMTLS, Issuer: leaf.Issuer.String(), Subject: leaf.Subject.String(),
		Name: leaf.Subject.CommonName, Serial: ca.FormatSerial(leaf.SerialNumber)}, nil
}
