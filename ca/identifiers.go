package ca

import (
	"crypto/x509"

	"github.com/vcc/vccpki/ca/profile"
)

// RequestedIdentifiers returns the names a CSR asks for under profile p,
// as issuance counts them: DNS and IP SANs and a subject commonName. Front
// ends use it to hold a request to the names its requester may have.
func RequestedIdentifiers(csr *x509.CertificateRequest, p *profile.Profile) ([]Identifier, error) {
	return requestedIdentifiers(csr, p)
}

// CertificateIdentifiers returns the names a certificate carries, counted
// the same way as a request's.
func CertificateIdentifiers(c *x509.Certificate, p *profile.Profile) ([]Identifier, error) {
	return requestedIdentifiers(&x509.CertificateRequest{Subject: c.Subject, DNSNames: c.DNSNames, IPAddresses: c.IPAddresses}, p)
}
