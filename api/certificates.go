package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// Certificate is one issued certificate as listings show it; the detail
// adds the PEM, the chain and the renewal window.
type Certificate struct {
	Serial           string     `json:"serial"`
	Issuer           string     `json:"issuer"`
	Profile          string     `json:"profile"`
	Requester        string     `json:"requester"`
	Subject          string     `json:"subject"`
	Names            []string   `json:"names"`
	NotBefore        time.Time  `json:"not_before"`
	NotAfter         time.Time  `json:"not_after"`
	Status           string     `json:"status"` // valid, revoked or expired
	RevokedAt        *time.Time `json:"revoked_at,omitempty"`
	RevocationReason string     `json:"revocation_reason,omitempty"`
	Certificate      string     `json:"certificate,omitempty"` // PEM, detail only
	Chain            []string   `json:"chain,omitempty"`       // PEM, issuing CA first, without the root
	RenewalWindow    *Window    `json:"renewal_window,omitempty"`
}

// Window is the ARI renewal window (RFC 9773 §4.2) of a certificate.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

func (s *Server) certificateRoutes(add addFunc) {
	add("GET", "/certificates", auth.CertRead, s.listCertificates)
	add("POST", "/certificates", auth.CertIssue, s.issueCertificate)
	add("GET", "/certificates/{serial}", auth.CertRead, s.getCertificate)
	add("POST", "/certificates/{serial}/revoke", auth.CertRevoke, s.revokeCertificate)
	add("POST", "/certificates/revoke-all", auth.CertRevoke, s.requestRevokeAll)
}

func listed(c store.Certificate, status string) Certificate {
	v := Certificate{Serial: c.Serial, Issuer: c.Issuer, Profile: c.Profile, Requester: c.Requester, Subject: c.Subject,
		Names: c.Names, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Status: status}
	if v.Names == nil {
		v.Names = []string{}
	}
	if !c.RevokedAt.IsZero() {
		at := c.RevokedAt.UTC()
		v.RevokedAt, v.RevocationReason = &at, ca.RevocationReason(c.RevocationReason).String()
	}
	return v
}

var certStatuses = []string{ca.ListedValid, ca.ListedRevoked, ca.ListedExpired}

func badQuery(format string, args ...any) error {
	return problem(http.StatusBadRequest, ProbMalformed, fmt.Sprintf(format, args...))
}

func queryTime(c *call, name string) (time.Time, error) {
	s := c.r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, badQuery("%s %q: want an RFC 3339 time (2026-12-31T00:00:00Z)", name, s)
	}
	return t, nil
}

// listCertificates: GET /certificates?serial=&name=&profile=&issuer=&status=&expires_after=&expires_before=&limit=&cursor=
// ordered by expiry then serial.
func (s *Server) listCertificates(c *call) error {
	q := c.r.URL.Query()
	limit, err := c.limit()
	if err != nil {
		return err
	}
	cur, hasCur, err := c.cursor("certificates")
	if err != nil {
		return err
	}
	status := q.Get("status")
	if status != "" && !containsString(certStatuses, status) {
		return badQuery("status %q: want one of %s", status, strings.Join(certStatuses, ", "))
	}
	profile := q.Get("profile")
	if profile != "" {
		if _, ok := s.cfg.Engine.Profiles().Get(profile); !ok {
			return problem(http.StatusBadRequest, ProbUnknownProfile, fmt.Sprintf("no profile %q", profile))
		}
	}
	after, err := queryTime(c, "expires_after")
	if err != nil {
		return err
	}
	before, err := queryTime(c, "expires_before")
	if err != nil {
		return err
	}
	if serial := q.Get("serial"); serial != "" {
		return s.certificateBySerial(c, serial)
	}
	// Every filter is the store's: a page is one indexed query whatever
	// the store holds.
	now := s.cfg.Now()
	f := store.CertFilter{Profile: profile, Issuer: q.Get("issuer"), Name: q.Get("name"),
		ExpiringAfter: after, ExpiringBefore: before, Limit: limit + 1, Org: c.scope()}
	if hasCur {
		f.After = &store.Certificate{NotAfter: time.Unix(0, cur.Time).UTC(), Serial: cur.Key}
	}
	revoked := status == ca.ListedRevoked
	switch status {
	case ca.ListedValid:
		f.Revoked, f.ValidAt = &revoked, now
	case ca.ListedRevoked:
		f.Revoked = &revoked
	case ca.ListedExpired: // not revoked, NotAfter <= now
		f.Revoked = &revoked
		if end := now.Add(1); f.ExpiringBefore.IsZero() || end.Before(f.ExpiringBefore) {
			f.ExpiringBefore = end
		}
	}
	page := Page[Certificate]{Items: []Certificate{}}
	var last store.Certificate
	errFull := errors.New("page full")
	err = ca.ListCertificates(c.r.Context(), s.cfg.Store, f, limit+1, now, func(rec store.Certificate, st string) error {
		if len(page.Items) == limit {
			page.Next = encodeCursor(cursor{Kind: "certificates", Key: last.Serial, Time: last.NotAfter.UnixNano()})
			return errFull
		}
		page.Items = append(page.Items, listed(rec, st))
		last = rec
		return nil
	}, nil)
	if err != nil && !errors.Is(err, errFull) {
		return err
	}
	return c.reply(http.StatusOK, page)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parseSerial(s string) (string, error) {
	n, err := ca.ParseSerial(s)
	if err != nil {
		return "", problem(http.StatusBadRequest, ProbBadSerial, fmt.Sprintf("serial %q: want the certificate's serial number in hex", s))
	}
	return ca.FormatSerial(n), nil
}

// certificateBySerial answers a listing by serial: that certificate, or none.
func (s *Server) certificateBySerial(c *call, serial string) error {
	info, err := s.lookup(c, serial)
	page := Page[Certificate]{Items: []Certificate{}}
	switch {
	case err == nil:
		info.Certificate, info.Chain, info.RenewalWindow = "", nil, nil
		page.Items = append(page.Items, *info)
	case errors.Is(err, errNoCertificate):
	default:
		return err
	}
	return c.reply(http.StatusOK, page)
}

var errNoCertificate = errors.New("no such certificate")

// lookup returns the detail of one certificate.
func (s *Server) lookup(c *call, serial string) (*Certificate, error) {
	hex, err := parseSerial(serial)
	if err != nil {
		return nil, err
	}
	n, _ := ca.ParseSerial(hex)
	info, err := s.cfg.Engine.Certificate(c.r.Context(), n)
	if err == nil && !s.seesIssuer(c.r.Context(), c, info.Issuer) {
		err = caerr.New(caerr.NotFound, "another organisation's") // answered as unknown: no existence leak
	}
	if errors.Is(err, caerr.NotFound) {
		return nil, fmt.Errorf("%w: %w", errNoCertificate, problem(http.StatusNotFound, ProbNotFound, "no certificate with serial "+hex+" was issued here"))
	}
	if err != nil {
		return nil, err
	}
	cert := info.Certificate
	st, err := s.cfg.Engine.StatusOf(c.r.Context(), info.Issuer, cert.SerialNumber)
	if err != nil {
		return nil, err
	}
	rec := store.Certificate{Serial: info.Serial, Issuer: info.Issuer, Profile: info.Profile, Requester: info.Requester,
		Subject: cert.Subject.CommonName, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, RevokedAt: info.RevokedAt, RevocationReason: int(st.Reason)}
	rec.Names = append(rec.Names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		rec.Names = append(rec.Names, ip.String())
	}
	if rec.Subject == "" && len(rec.Names) > 0 {
		rec.Subject = rec.Names[0]
	}
	status := ca.ListedValid
	switch {
	case !info.RevokedAt.IsZero():
		status = ca.ListedRevoked
	case !cert.NotAfter.After(s.cfg.Now()):
		status = ca.ListedExpired
	}
	v := listed(rec, status)
	v.Certificate = pemOf(cert)
	for _, p := range info.Chain {
		v.Chain = append(v.Chain, pemOf(p))
	}
	if p, ok := s.cfg.Engine.Profiles().Get(info.Profile); ok {
		start, end := p.RenewalWindow(cert.NotBefore, cert.NotAfter)
		if !info.RevokedAt.IsZero() { // RFC 9773 §4.2: renew now
			start, end = info.RevokedAt.Add(-time.Hour), info.RevokedAt.Add(-time.Hour/2)
		}
		v.RenewalWindow = &Window{Start: start.UTC(), End: end.UTC()}
	}
	return &v, nil
}

// getCertificate: GET /certificates/{serial}
func (s *Server) getCertificate(c *call) error {
	v, err := s.lookup(c, c.r.PathValue("serial"))
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, v)
}

// RevokeRequest is the body of a revocation.
type RevokeRequest struct {
	Reason string `json:"reason"` // RFC 5280 name (keyCompromise, superseded, ...)
}

// revokeCertificate: POST /certificates/{serial}/revoke
func (s *Server) revokeCertificate(c *call) error {
	hex, err := parseSerial(c.r.PathValue("serial"))
	if err != nil {
		return err
	}
	var req RevokeRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	reason, err := ca.ParseReason(req.Reason)
	if err != nil {
		return err
	}
	if _, err := s.lookup(c, hex); err != nil { // another organisation's is 404, unchanged
		return err
	}
	n, _ := ca.ParseSerial(hex)
	if err := s.cfg.Engine.Revoke(c.r.Context(), n, reason, c.requester()); err != nil {
		return err
	}
	v, err := s.lookup(c, hex)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, v)
}

// requester is the caller as the engine records it: an operator act
// through the API.
func (c *call) requester() ca.Requester {
	return ca.Requester{Protocol: ca.ProtocolOperator, Subject: "api " + c.actor()}
}

// IssueRequest is the body of an issuance.
type IssueRequest struct {
	Profile string `json:"profile"`
	CSR     string `json:"csr"` // PEM PKCS#10
}

// issueCertificate: POST /certificates
func (s *Server) issueCertificate(c *call) error {
	var req IssueRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if p, ok := s.cfg.Engine.Profiles().Get(req.Profile); ok && !c.seesProfile(p) {
		return problem(http.StatusForbidden, ProbForbidden, fmt.Sprintf("profile %s belongs to another organisation", req.Profile))
	}
	if _, ok := s.cfg.Engine.Profiles().Get(req.Profile); !ok {
		return problem(http.StatusBadRequest, ProbUnknownProfile, fmt.Sprintf("no profile %q (known: %s)", req.Profile, strings.Join(s.cfg.Engine.Profiles().Names(), ", ")))
	}
	if strings.TrimSpace(req.CSR) == "" {
		return problem(http.StatusBadRequest, ProbBadCSR, "csr: a PEM certificate request is required")
	}
	issued, err := s.cfg.Engine.Issue(c.r.Context(), ca.IssueRequest{Profile: req.Profile, CSR: []byte(req.CSR), Requester: c.requester()})
	if err != nil {
		return err
	}
	v, err := s.lookup(c, issued.Serial)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", Prefix+"/certificates/"+issued.Serial)
	return c.reply(http.StatusCreated, v)
}
