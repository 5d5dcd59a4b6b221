package api

import (
	"net/http"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca/profile"
)

// Profile is a profile template, read-only (profiles are files reviewed
// in git).
type Profile struct {
	Name            string    `json:"name"`
	Description     string    `json:"description,omitempty"`
	Issuer          string    `json:"issuer"`
	Protocols       []string  `json:"protocols"`
	DNS             []string  `json:"dns"`
	IP              []string  `json:"ip"`
	AllowWildcard   bool      `json:"allow_wildcard"`
	SubjectPattern  string    `json:"subject_pattern,omitempty"`
	MaxNames        int       `json:"max_names"`
	Keys            []KeyRule `json:"keys"`
	Validity        string    `json:"validity"`
	RenewalFraction float64   `json:"renewal_fraction"`
	RequireBinding  bool      `json:"require_binding"`
	ESTAuth         []string  `json:"est_auth,omitempty"`
}

// KeyRule is one kind of key a profile accepts.
type KeyRule struct {
	Type    string   `json:"type"`
	Curves  []string `json:"curves,omitempty"`
	MinBits int      `json:"min_bits,omitempty"`
	MaxBits int      `json:"max_bits,omitempty"`
}

func profileView(p *profile.Profile) Profile {
	v := Profile{Name: p.Name, Description: p.Description, Issuer: p.Issuer, Protocols: nonNil(p.Protocols), DNS: nonNil(p.DNSPatterns),
		IP: []string{}, AllowWildcard: p.AllowWildcard, SubjectPattern: p.SubjectPattern, MaxNames: p.MaxNames, Keys: []KeyRule{},
		Validity: p.Validity.String(), RenewalFraction: p.RenewalFraction, RequireBinding: p.RequireBinding, ESTAuth: p.EST.Auth}
	for _, pre := range p.IPPrefixes {
		v.IP = append(v.IP, pre.String())
	}
	for _, k := range p.Keys {
		v.Keys = append(v.Keys, KeyRule{Type: k.Type, Curves: k.Curves, MinBits: k.MinBits, MaxBits: k.MaxBits})
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) profileRoutes(add addFunc) {
	add("GET", "/profiles", auth.ProfileRead, s.listProfiles)
	add("GET", "/profiles/{name}", auth.ProfileRead, s.getProfile)
}

// listProfiles: GET /profiles[?issuer=&protocol=]
func (s *Server) listProfiles(c *call) error {
	q := c.r.URL.Query()
	var items []Profile
	for _, p := range s.cfg.Engine.Profiles().All() {
		if iss := q.Get("issuer"); iss != "" && p.Issuer != iss {
			continue
		}
		if proto := q.Get("protocol"); proto != "" && !containsString(p.Protocols, proto) {
			continue
		}
		if !c.seesProfile(p) {
			continue
		}
		items = append(items, profileView(p))
	}
	return pageSlice(c, "profiles", items)
}

// getProfile: GET /profiles/{name}
func (s *Server) getProfile(c *call) error {
	p, ok := s.cfg.Engine.Profiles().Get(c.r.PathValue("name"))
	if !ok || !c.seesProfile(p) {
		return problem(http.StatusNotFound, ProbNotFound, "no profile "+c.r.PathValue("name"))
	}
	return c.reply(http.StatusOK, profileView(p))
}
