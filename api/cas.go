package api

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"slices"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// CA is one certificate of the CA's own hierarchy.
type CA struct {
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Parent      string    `json:"parent,omitempty"`
	Subject     string    `json:"subject"`
	Serial      string    `json:"serial"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	Status      string    `json:"status"`                // valid, expired or revoked
	Certificate string    `json:"certificate,omitempty"` // PEM, detail only
	Chain       []string  `json:"chain,omitempty"`       // PEM, nearest first, without the root; detail only
	CRL         string    `json:"crl,omitempty"`         // path of its CRL, for issuers
	// RevokedAt and RevocationReason: a revoked CA (POST /cas/{name}/revoke).
	RevokedAt        *time.Time `json:"revoked_at,omitempty"`
	RevocationReason string     `json:"revocation_reason,omitempty"`
	// PathLen is the basicConstraints pathLenConstraint, when the certificate has one.
	PathLen *int `json:"path_len,omitempty"`
	// Name constraints of the certificate (RFC 5280 §4.2.1.10).
	PermittedDNS []string `json:"permitted_dns,omitempty"`
	ExcludedDNS  []string `json:"excluded_dns,omitempty"`
	PermittedIP  []string `json:"permitted_ip,omitempty"`
	ExcludedIP   []string `json:"excluded_ip,omitempty"`
	// SubjectKeyID is the certificate's subject key identifier (hex).
	SubjectKeyID string `json:"subject_key_id,omitempty"`
	// Generation of the CA's key (1, then one more at each rollover, POST
	// /cas/{name}/rollover); RetiredGenerations (detail only) are the
	// earlier ones, which sign only the CRLs and OCSP answers of the
	// certificates they issued.
	Generation         int            `json:"generation"`
	RetiredGenerations []CAGeneration `json:"retired_generations,omitempty"`
}

// CAGeneration is a retired key generation of a CA.
type CAGeneration struct {
	Generation   int       `json:"generation"`
	Serial       string    `json:"serial"`
	SubjectKeyID string    `json:"subject_key_id"`
	NotAfter     time.Time `json:"not_after"`
	RetiredAt    time.Time `json:"retired_at"`
}

// constraintsOf fills the path length and name constraints of a CA certificate.
func (v *CA) constraintsOf(cert *x509.Certificate) {
	if cert.MaxPathLen > 0 || cert.MaxPathLenZero {
		n := cert.MaxPathLen
		v.PathLen = &n
	}
	v.PermittedDNS, v.ExcludedDNS = cert.PermittedDNSDomains, cert.ExcludedDNSDomains
	for _, n := range cert.PermittedIPRanges {
		v.PermittedIP = append(v.PermittedIP, n.String())
	}
	for _, n := range cert.ExcludedIPRanges {
		v.ExcludedIP = append(v.ExcludedIP, n.String())
	}
}

func (s *Server) casRoutes(add addFunc) {
	add("GET", "/cas", auth.CARead, s.listCAs)
	add("GET", "/cas/{name}", auth.CARead, s.getCA)
	add("GET", "/cas/{name}/crl", auth.CARead, s.getCRL)
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func (s *Server) cas(c *call, detail bool) ([]CA, error) {
	recs, err := s.cfg.Store.CAs(c.r.Context())
	if err != nil {
		return nil, err
	}
	var retired []store.CARecord
	if detail {
		if retired, err = s.cfg.Store.RetiredCAs(c.r.Context()); err != nil {
			return nil, err
		}
	}
	now := s.cfg.Now()
	visible := s.visibleCAs(c, recs)
	out := make([]CA, 0, len(recs))
	for _, rec := range recs {
		if visible != nil && !visible[rec.Name] {
			continue
		}
		cert, ok := s.cfg.Engine.CACert(rec.Name)
		if !ok {
			continue
		}
		v := CA{Name: rec.Name, Role: rec.Role, Parent: rec.Parent, Subject: cert.Subject.String(), Serial: ca.FormatSerial(cert.SerialNumber),
			NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), Status: "valid",
			SubjectKeyID: hex.EncodeToString(cert.SubjectKeyId), Generation: max(rec.Generation, 1)}
		if !cert.NotAfter.After(now) {
			v.Status = "expired"
		}
		if !rec.RevokedAt.IsZero() {
			at := rec.RevokedAt.UTC()
			v.Status, v.RevokedAt, v.RevocationReason = "revoked", &at, ca.RevocationReason(rec.RevocationReason).String()
		}
		v.constraintsOf(cert)
		if slices.Contains(s.cfg.Engine.CRLIssuers(), rec.Name) {
			v.CRL = Prefix + "/cas/" + rec.Name + "/crl"
		}
		if detail {
			v.RetiredGenerations = retiredGenerations(rec.Name, retired)
			v.Certificate = pemOf(cert)
			for _, p := range s.cfg.Engine.Chain(rec.Name) {
				v.Chain = append(v.Chain, pemOf(p))
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// retiredGenerations are the retired generations of the CA named name
// among retired (store.RetiredCAs), oldest first.
func retiredGenerations(name string, retired []store.CARecord) []CAGeneration {
	var out []CAGeneration
	for _, r := range retired {
		if r.Name != name {
			continue
		}
		g := CAGeneration{Generation: max(r.Generation, 1), RetiredAt: r.RetiredAt.UTC()}
		if cert, err := x509.ParseCertificate(r.DER); err == nil {
			g.Serial, g.SubjectKeyID, g.NotAfter = ca.FormatSerial(cert.SerialNumber), hex.EncodeToString(cert.SubjectKeyId), cert.NotAfter.UTC()
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b CAGeneration) int { return a.Generation - b.Generation })
	return out
}

// listCAs: GET /cas[?role=]
func (s *Server) listCAs(c *call) error {
	all, err := s.cas(c, false)
	if err != nil {
		return err
	}
	role := c.r.URL.Query().Get("role")
	var items []CA
	for _, v := range all {
		if role == "" || v.Role == role {
			items = append(items, v)
		}
	}
	return pageSlice(c, "cas", items)
}

// getCA: GET /cas/{name}
func (s *Server) getCA(c *call) error {
	all, err := s.cas(c, true)
	if err != nil {
		return err
	}
	name := c.r.PathValue("name")
	for _, v := range all {
		if v.Name == name {
			return c.reply(http.StatusOK, v)
		}
	}
	return problem(http.StatusNotFound, ProbNotFound, "no CA named "+name)
}

// getCRL: GET /cas/{name}/crl, the issuer's current full CRL (DER).
func (s *Server) getCRL(c *call) error {
	name := c.r.PathValue("name")
	if !slices.Contains(s.cfg.Engine.CRLIssuers(), name) {
		return problem(http.StatusNotFound, ProbNotFound, "no CRL issuer named "+name)
	}
	der, err := s.cfg.Engine.CRL(c.r.Context(), name)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/pkix-crl")
	c.status = http.StatusOK
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(der)
	return nil
}

// pageSlice answers a listing held in memory, paged by offset.
func pageSlice[T any](c *call, kind string, items []T) error {
	limit, err := c.limit()
	if err != nil {
		return err
	}
	cur, _, err := c.cursor(kind)
	if err != nil {
		return err
	}
	if cur.Offset > int64(len(items)) {
		return problem(http.StatusBadRequest, ProbBadCursor, "the cursor is past the end of the listing; start again without it")
	}
	rest := items[cur.Offset:]
	page := Page[T]{Items: rest[:min(limit, len(rest))]}
	if page.Items == nil {
		page.Items = []T{}
	}
	if len(rest) > limit {
		page.Next = encodeCursor(cursor{Kind: kind, Offset: cur.Offset + int64(limit)})
	}
	return c.reply(http.StatusOK, page)
}
