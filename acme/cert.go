package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// certificate serves an issued certificate with its chain as
// application/pem-certificate-chain (RFC 8555 §7.4.2), the chain of the
// CA key generation that signed it (the engine attributes each
// certificate to its generation; after vccpki ca rollover an old leaf
// gets the old intermediate, a new leaf the new one). A leaf of a
// generation made by a rollover has a second chain through the
// generation's link certificate, the new key certified by the old one
// (RFC 4210 §4.4 newWithOld; ca/rollover_link.go): leaf, link
// certificate, the old generation's certificate, for relying parties
// that hold only the old intermediate. §7.4.2 offers it as an alternate
// chain: the default answer links it with rel="alternate" at
// <certificate URL>/1, where a POST-as-GET returns it. Old-generation
// leaves have one chain and no link.
func (s *Server) certificate(ctx context.Context, q *request) (*reply, error) {
	serial, alt := q.r.PathValue("serial"), q.r.PathValue("alt")
	rec, err := s.store.ACMECertificate(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("certificate " + serial)
	}
	if err != nil {
		return nil, err
	}
	if rec.AccountID != q.account.ID {
		return nil, unauthorized("certificate %s belongs to another account", serial)
	}
	n, err := ca.ParseSerial(serial)
	if err != nil {
		return nil, notFound("certificate " + serial)
	}
	info, err := s.engine.Certificate(ctx, n)
	if err != nil {
		return nil, err
	}
	chain := info.Chain
	var links []string
	switch {
	case alt == "" && info.Alternate != nil:
		links = append(links, link(q.abs(pathCert+serial+"/"+altChain), "alternate"))
	case alt == altChain && info.Alternate != nil:
		chain = info.Alternate
		links = append(links, link(q.abs(pathCert+serial), "alternate"))
	case alt != "":
		return nil, notFound("alternate chain " + alt + " of certificate " + serial)
	}
	var b bytes.Buffer
	for _, c := range append([]*x509.Certificate{info.Certificate}, chain...) {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return &reply{raw: b.Bytes(), ctype: "application/pem-certificate-chain", links: links}, nil
}

// altChain is the path segment of a certificate's alternate chain.
const altChain = "1"

// csrIdentifiers lists the names a CSR asks for: DNS and IP SANs and a
// commonName (which may be an IP address, as some clients write it).
func csrIdentifiers(csr *x509.CertificateRequest) []identifier {
	var ids []identifier
	add := func(id identifier) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, n := range csr.DNSNames {
		add(identifier{"dns", strings.ToLower(n)})
	}
	for _, ip := range csr.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			add(identifier{"ip", a.Unmap().String()})
		}
	}
	if cn := csr.Subject.CommonName; cn != "" {
		if a, err := netip.ParseAddr(cn); err == nil {
			add(identifier{"ip", a.Unmap().String()})
		} else {
			add(identifier{"dns", strings.ToLower(cn)})
		}
	}
	return ids
}

// csrMatchesOrder requires the CSR to ask for exactly the order's
// identifiers (RFC 8555 §7.4: otherwise badCSR).
func csrMatchesOrder(got, want []identifier) *problem {
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w.String())
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g.String())
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	return newProblem(probBadCSR, http.StatusBadRequest, "the CSR does not name exactly the order's identifiers (missing %v, not in the order %v)", missing, extra)
}

// revokeCert revokes a certificate (RFC 8555 §7.6), signed either by the
// account it was issued to or by the certificate's own key.
func (s *Server) revokeCert(ctx context.Context, q *request) (*reply, error) {
	var in struct {
		Certificate string `json:"certificate"`
		Reason      *int   `json:"reason"`
	}
	if p := q.decode(&in); p != nil {
		return nil, p
	}
	der, err := b64.DecodeString(strings.TrimRight(in.Certificate, "="))
	if err != nil {
		return nil, malformed("certificate is not base64url DER")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, malformed("certificate does not parse: %v", err)
	}
	info, err := s.engine.Certificate(ctx, cert.SerialNumber)
	if err != nil || !bytes.Equal(info.Certificate.Raw, der) {
		return nil, notFound("the certificate (it was not issued here)")
	}
	if certOrg := s.orgOfProfile(info.Profile); certOrg != orgOf(ctx) {
		// An account of one organisation holding authorizations for the
		// names of another's certificate still may not revoke it.
		return nil, unauthorized("certificate %s belongs to another organisation; revoke it through its own directory", info.Serial)
	}
	reason := ca.Unspecified
	if in.Reason != nil {
		r, err := ca.ParseReason(strconv.Itoa(*in.Reason))
		if err != nil {
			return nil, toProblem(err)
		}
		reason = r
	}
	by := ca.Requester{Protocol: ca.ProtocolACME}
	if q.account != nil {
		rec, err := s.store.ACMECertificate(ctx, info.Serial)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err != nil || rec.AccountID != q.account.ID {
			// RFC 8555 §7.6: an account holding authorizations for every
			// name in the certificate may revoke it too.
			ok, err := s.authorizedForAll(ctx, q.account.ID, cert)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, unauthorized("this account neither ordered certificate %s nor holds valid authorizations for all its names", info.Serial)
			}
		}
		by.Subject = q.accountURL()
	} else {
		if !samePublicKey(cert.PublicKey, q.key.key) {
			return nil, unauthorized("the JWS is signed neither by an account nor by the certificate's key")
		}
		by.Subject = "certificate key " + q.key.thumbprint
	}
	if !info.RevokedAt.IsZero() {
		return nil, newProblem(probAlreadyRevoked, http.StatusBadRequest, "certificate %s was revoked at %s", info.Serial, info.RevokedAt.Format("2006-01-02T15:04:05Z"))
	}
	if err := s.engine.Revoke(ctx, cert.SerialNumber, reason, by); err != nil {
		return nil, err
	}
	return &reply{}, nil
}

// authorizedForAll reports whether the account holds valid authorizations
// for every DNS name and IP address in cert.
func (s *Server) authorizedForAll(ctx context.Context, account store.AccountID, cert *x509.Certificate) (bool, error) {
	var ids []identifier
	for _, n := range cert.DNSNames {
		ids = append(ids, identifier{"dns", strings.ToLower(n)})
	}
	for _, ip := range cert.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			ids = append(ids, identifier{"ip", a.Unmap().String()})
		}
	}
	if len(ids) == 0 {
		return false, nil
	}
	for _, id := range ids {
		ok, err := s.store.HasValidAuthz(ctx, account, id.String(), s.cfg.Now())
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(x crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// certIDSerial reads an RFC 9773 §4.1 certificate ID:
// base64url(authorityKeyIdentifier) "." base64url(serial DER content).
func certIDSerial(id string) ([]byte, *big.Int, error) {
	akiPart, serialPart, ok := strings.Cut(id, ".")
	if !ok {
		return nil, nil, fmt.Errorf("%q is not AKI.serial", id)
	}
	aki, err1 := b64.DecodeString(akiPart)
	sb, err2 := b64.DecodeString(serialPart)
	if err1 != nil || err2 != nil || len(aki) == 0 || len(sb) == 0 || len(sb) > 20 || sb[0]&0x80 != 0 {
		return nil, nil, fmt.Errorf("%q is not a base64url AKI and a positive serial", id)
	}
	serial := new(big.Int).SetBytes(sb)
	if serial.Sign() == 0 {
		return nil, nil, fmt.Errorf("%q names serial 0", id)
	}
	return aki, serial, nil
}

// lookupCertID finds the certificate an RFC 9773 certificate ID names.
func (s *Server) lookupCertID(ctx context.Context, id string) (*ca.CertificateInfo, *problem) {
	aki, serial, err := certIDSerial(id)
	if err != nil {
		return nil, malformed("certificate ID: %v", err)
	}
	info, err := s.engine.Certificate(ctx, serial)
	if caerr.KindOf(err) == caerr.NotFound || (err == nil && !bytes.Equal(info.Certificate.AuthorityKeyId, aki)) {
		return nil, notFound("certificate " + id)
	}
	if err != nil {
		return nil, s.internal("certificate lookup", err)
	}
	return info, nil
}
