package est

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// MaxBodySize bounds a request body: a base64 CSR. The globalsign router
// has the same bound but answers 500 when it is crossed; we answer 413.
const MaxBodySize = 64 << 10

// EST operations (RFC 7030 §3.2.2, table 1).
const (
	opCACerts      = "cacerts"
	opCSRAttrs     = "csrattrs"
	opEnroll       = "simpleenroll"
	opReenroll     = "simplereenroll"
	opServerKeyGen = "serverkeygen"
	opTPMEnroll    = "tpmenroll" // globalsign's extension; not offered
)

type (
	profileKey  struct{}
	identityKey struct{}
)

// ServeHTTP resolves the label to a profile, bounds the body and
// authenticates enrolment requests, then hands the request to the
// globalsign router, whose CA calls come back to this package.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		// RFC 7030 §3.3: EST runs over TLS only. (The router would also
		// panic on /simplereenroll without TLS.)
		writeError(w, &Error{Status: http.StatusForbidden, Message: "EST is served over HTTPS only"})
		return
	}
	r, org := routeOrg(r)
	label, op, ok := splitPath(r.URL.Path)
	if !ok {
		writeError(w, &Error{Status: http.StatusNotFound, Message: "not an EST URL: use " + PathPrefix + "[<label>/]{cacerts,csrattrs,simpleenroll,simplereenroll,serverkeygen}"})
		return
	}
	p, err := s.profileFor(label, org)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := context.WithValue(r.Context(), profileKey{}, p)
	switch op {
	case opCACerts, opCSRAttrs:
		// RFC 7030 §4.1.1, §4.5.1: no authentication.
	case opTPMEnroll:
		writeError(w, &Error{Status: http.StatusNotImplemented, Message: "tpmenroll is not offered by this server"})
		return
	case opEnroll, opReenroll, opServerKeyGen:
		if r.Method != http.MethodPost {
			break // the router answers 405
		}
		id, err := s.authenticate(r, p, op)
		if err != nil {
			writeError(w, err)
			return
		}
		ctx = context.WithValue(ctx, identityKey{}, id)
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.router.ServeHTTP(w, r.WithContext(ctx))
}

// routeOrg moves a request of /.well-known/est/<org>/<label>/<op> to
// /.well-known/est/<label>/<op> and returns the organisation ("" for a
// path without one). The router and splitPath see the path of the
// operator's layout; RFC 7030 §3.2.2 leaves the path segments after
// /.well-known/est/ to the server.
func routeOrg(r *http.Request) (*http.Request, string) {
	rest, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok {
		return r, ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !store.ValidOrgName(parts[0]) || parts[1] == "" {
		return r, ""
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = PathPrefix+parts[1]+"/"+parts[2], ""
	return r2, parts[0]
}

// splitPath returns the label ("" for none) and the operation of an EST
// URL path.
func splitPath(path string) (string, string, bool) {
	rest, ok := strings.CutPrefix(path, PathPrefix)
	if !ok {
		return "", "", false
	}
	label, op, hasLabel := strings.Cut(rest, "/")
	if !hasLabel {
		label, op = "", rest
	}
	switch op {
	case opCACerts, opCSRAttrs, opEnroll, opReenroll, opServerKeyGen, opTPMEnroll:
	default:
		return "", "", false
	}
	if hasLabel && (label == "" || strings.Contains(op, "/")) {
		return "", "", false
	}
	return label, op, true
}

// profileFor maps a label to its profile template: no label is the
// default profile, a label is a profile name (RFC 7030 §3.2.2).
//
// A partner organisation's profiles are reached only under its name,
// /.well-known/est/<org>/<profile>/, and the operator's only without one
// (or under /.well-known/est/vcc/<profile>/): a label of another
// organisation is unknown here.
func (s *Server) profileFor(label, org string) (*profile.Profile, error) {
	name := label
	if name == "" {
		name = profile.DefaultName
	}
	p, ok := s.engine.Profiles().Get(name)
	if ok && store.OrgOf(p.Organisation) != store.OrgOf(org) {
		ok = false
	}
	if !ok {
		return nil, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("unknown EST label %q: no profile of that name", clip(label))}
	}
	if !p.AllowsProtocol(profile.ProtocolEST) {
		return nil, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("profile %s is not open to EST", p.Name)}
	}
	return p, nil
}

// readBody reads a bounded body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodySize {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Message: "reading the request body failed"}
	}
	return b, nil
}

var errTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("the request body is larger than %d bytes; a base64 CSR is a few KiB", MaxBodySize)}

// clip keeps client-chosen text short in messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
