package acme

import (
	"context"
	"net/http"
	"strings"

	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// Organisations. Every organisation with an ACME profile has its own ACME
// tree: /acme/<org>/directory and the same resources under /acme/<org>/.
// The operator's tree stays at /acme/ (and /acme/vcc/ also reaches it).
// An account belongs to the organisation whose directory created it
// (store.ACMEAccount.Org); it may use only that tree, only that
// organisation's EAB keys, and order only from that organisation's
// profiles. The tree of a request is in its context (orgKey), set by
// Handler before the resource's handler runs.

type orgKey struct{}

// orgOf returns the organisation of a request's tree (the operator's
// when none was named).
func orgOf(ctx context.Context) string {
	if org, ok := ctx.Value(orgKey{}).(string); ok {
		return org
	}
	return store.OperatorOrg
}

// reserved are the first path segments of the operator's tree's own
// resources: never an organisation's name in a URL.
var reserved = map[string]bool{}

func init() {
	for _, p := range []string{pathDirectory, pathNewNonce, pathNewAccount, pathNewOrder, pathRevokeCert, pathKeyChange, pathRenewalInfo,
		pathAccount, pathOrder, pathAuthz, pathChallenge, pathCert} {
		seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/acme/"), "/")
		reserved[seg] = true
	}
}

// routeOrg moves a request of /acme/<org>/rest to /acme/rest with org in
// its context. ok is false for an organisation without ACME profiles:
// the caller answers 404.
func (s *Server) routeOrg(r *http.Request) (*http.Request, bool) {
	rest, found := strings.CutPrefix(r.URL.Path, "/acme/")
	if !found {
		return r, true
	}
	seg, tail, _ := strings.Cut(rest, "/")
	if reserved[seg] || !store.ValidOrgName(seg) {
		return r, true
	}
	if !s.servesOrg(seg) {
		return r, false
	}
	r2 := r.WithContext(context.WithValue(r.Context(), orgKey{}, seg))
	u := *r.URL
	u.Path, u.RawPath = "/acme/"+tail, ""
	r2.URL = &u
	return r2, true
}

// servesOrg reports whether org has an ACME profile.
func (s *Server) servesOrg(org string) bool {
	for _, p := range s.profiles.Of(org) {
		if p.AllowsProtocol(profile.ProtocolACME) {
			return true
		}
	}
	return false
}

// orgPath is path (one of the path constants, /acme/...) in the tree of
// the request's organisation.
func orgPath(ctx context.Context, path string) string {
	org, ok := ctx.Value(orgKey{}).(string)
	if !ok {
		return path
	}
	return "/acme/" + org + strings.TrimPrefix(path, "/acme")
}

// abs is the absolute URL of path in the request's tree.
func (q *request) abs(path string) string { return q.base + orgPath(q.r.Context(), path) }

// orgOfProfile is the organisation of a profile by name; the operator's
// for a name no longer configured.
func (s *Server) orgOfProfile(name string) string {
	if p, ok := s.profiles.Get(name); ok {
		return store.OrgOf(p.Organisation)
	}
	return store.OperatorOrg
}
