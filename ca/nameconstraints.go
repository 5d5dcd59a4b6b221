package ca

import (
	"crypto/x509"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/vcc/vccpki/ca/caerr"
)

// CheckNameConstraints reports whether a certificate with these names may
// be issued under chain (the issuing CA first, then its ancestors): every
// CA's name constraints (RFC 5280 §4.2.1.10) apply to every name, and a
// name outside any of them is a RejectedIdentifier error naming the CA
// and the constraint. The engine calls it before signing; relying parties
// (openssl verify, Go's x509) would refuse the certificate anyway.
//
// dNSName constraints follow RFC 5280: "partner.example" permits the name
// itself and any name made by adding labels on the left; a leading dot
// (".partner.example", the form OpenSSL and Go also accept) permits only
// such longer names. URI constraints apply to the URI's host the same
// way (§4.2.1.10: a constraint with a leading period names subdomains).
func CheckNameConstraints(chain []*x509.Certificate, dns []string, ips []net.IP, uris []*url.URL) error {
	for _, c := range chain {
		name := c.Subject.CommonName
		for _, d := range dns {
			if err := checkDomain(name, "dNSName", d, c.PermittedDNSDomains, c.ExcludedDNSDomains); err != nil {
				return err
			}
		}
		for _, ip := range ips {
			if i := slices.IndexFunc(c.ExcludedIPRanges, func(n *net.IPNet) bool { return n.Contains(ip) }); i >= 0 {
				return caerr.New(caerr.RejectedIdentifier, "%s is excluded by the name constraints of %s (excluded iPAddress %s)", ip, name, c.ExcludedIPRanges[i])
			}
			if len(c.PermittedIPRanges) > 0 && !slices.ContainsFunc(c.PermittedIPRanges, func(n *net.IPNet) bool { return n.Contains(ip) }) {
				return caerr.New(caerr.RejectedIdentifier, "%s is outside the name constraints of %s (permitted iPAddress %s)", ip, name, joinNets(c.PermittedIPRanges))
			}
		}
		for _, u := range uris {
			if err := checkDomain(name, "uniformResourceIdentifier", u.Hostname(), c.PermittedURIDomains, c.ExcludedURIDomains); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkDomain(ca, kind, d string, permitted, excluded []string) error {
	if i := slices.IndexFunc(excluded, func(c string) bool { return domainMatches(d, c) }); i >= 0 {
		return caerr.New(caerr.RejectedIdentifier, "%s is excluded by the name constraints of %s (excluded %s %s)", d, ca, kind, excluded[i])
	}
	if len(permitted) > 0 && !slices.ContainsFunc(permitted, func(c string) bool { return domainMatches(d, c) }) {
		return caerr.New(caerr.RejectedIdentifier, "%s is outside the name constraints of %s (permitted %s %s)", d, ca, kind, strings.Join(permitted, ", "))
	}
	return nil
}

// domainMatches reports whether name falls under constraint: equal, or
// ending in "." + constraint; a constraint with a leading dot matches
// only longer names. Comparison ignores case; an empty constraint matches
// every name.
func domainMatches(name, constraint string) bool {
	name, constraint = strings.ToLower(strings.TrimSuffix(name, ".")), strings.ToLower(constraint)
	if constraint == "" {
		return true
	}
	if strings.HasPrefix(constraint, ".") {
		return len(name) > len(constraint) && strings.HasSuffix(name, constraint)
	}
	return name == constraint || strings.HasSuffix(name, "."+constraint)
}

func joinNets(ns []*net.IPNet) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.String()
	}
	return strings.Join(s, ", ")
}

// chainOf is a and its ancestors, a first, root last.
func chainOf(a *authority) []*x509.Certificate {
	var out []*x509.Certificate
	for ; a != nil; a = a.parent {
		out = append(out, a.cert)
	}
	return out
}

// checkUsable refuses issuance under a CA that, or whose ancestor, is
// revoked.
func checkUsable(a *authority) error {
	for c := a; c != nil; c = c.parent {
		if r := c.revoked.Load(); r != nil {
			return caerr.New(caerr.Conflict, "the %s CA is revoked (%s since %s): it issues no more certificates", c.name, r.reason, r.at.Format("2006-01-02T15:04:05Z"))
		}
	}
	return nil
}
