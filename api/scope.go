package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// Organisations scope what a caller sees. The rule is the principal's
// (auth.Principal.Scope and Sees): the operator's people see every
// organisation, a partner's only its own. This file is where the API
// applies it: listings pass the scope into the store's query
// (store.CertFilter.Org, store.AuditFilter.Org) or keep what Sees; a
// single object of another organisation answers 404 as if it did not
// exist; and the acts below stay the operator's.

// operatorOnly are the permissions a partner's principal never uses, even
// if its roles grant them: they act on the shared hierarchy, on every
// organisation at once, or on the operator's own registries.
var operatorOnly = map[auth.Permission]bool{
	auth.OrgCreate:      true,
	auth.CACreate:       true,
	auth.CARevoke:       true,
	auth.AuditVerify:    true, // the whole chain
	auth.ApprovalRead:   true, // dual control is the operator's
	auth.ApprovalDecide: true,
	auth.FleetDiscover:  true,
	auth.FleetReissue:   true,
	auth.SignArtifact:   true, // the signature registry and TSA are the operator's
	auth.SignRead:       true,
	auth.TSARead:        true,
	auth.CARollover:     true,
	auth.OrgAddCA:       true,
}

// checkScope refuses an operator-only permission to a partner's principal.
func checkScope(p *auth.Principal, perm auth.Permission) *apiError {
	if operatorOnly[perm] && p.Scope() != "" {
		return problem(http.StatusForbidden, ProbForbidden, fmt.Sprintf("permission %s is the operator's; your organisation is %s", perm, p.Scope()))
	}
	return nil
}

// scope is the organisation the call is confined to; "" for all.
func (c *call) scope() string { return c.principal.Scope() }

// seesIssuer reports whether the caller may see certificates of an issuing CA.
func (s *Server) seesIssuer(ctx context.Context, c *call, issuer string) bool {
	if c.scope() == "" {
		return true
	}
	return c.principal.Sees(s.cfg.Engine.OrgOfIssuer(ctx, issuer))
}

// seesProfile reports whether the caller may see (and use) a profile: the
// profiles of its organisation.
func (c *call) seesProfile(p *profile.Profile) bool { return c.principal.Sees(p.Organisation) }

// seesService reports whether the caller may see a registry service (or a
// credential bound to one): a service belongs to its profile's
// organisation; one bound to no known profile, to the operator.
func (s *Server) seesService(c *call, service string) bool {
	if p, ok := s.cfg.Engine.Profiles().Get(service); ok {
		return c.seesProfile(p)
	}
	return c.principal.Sees("")
}

// visibleCAs is the set of CA records a partner's caller sees: the issuing
// CAs its organisation owns, their OCSP responders, and the chain above
// them up to the root; nil (all) for the operator's.
func (s *Server) visibleCAs(c *call, recs []store.CARecord) map[string]bool {
	if c.scope() == "" {
		return nil
	}
	parent := map[string]string{}
	for _, r := range recs {
		parent[r.Name] = r.Parent
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Role != "intermediate" || !s.seesIssuer(c.r.Context(), c, r.Name) {
			continue
		}
		for n := r.Name; n != "" && !seen[n]; n = parent[n] {
			seen[n] = true
		}
	}
	for _, r := range recs {
		if r.Role == "ocsp" && seen[r.Parent] && r.Parent != "" && parent[r.Parent] != "" {
			seen[r.Name] = true // the responder of a CA it owns (not the root's)
		}
	}
	return seen
}
