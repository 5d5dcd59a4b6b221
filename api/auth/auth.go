// Package auth decides who calls the management API and what they may do:
// a Principal comes from an OIDC bearer token (RFC 6750, RFC 9068) or a
// client certificate of the VCC Admin CA; roles map to permissions, and
// every endpoint names the one permission it needs.
package auth

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/vcc/vccpki/store"
)

// Methods a Principal authenticated with.
const (
	MethodOIDC = "oidc" // a bearer JWT access token from the configured issuer
	MethodMTLS = "mtls" // a TLS client certificate from the VCC Admin CA
)

// Principal is an authenticated caller of the API.
type Principal struct {
	Method  string   // MethodOIDC or MethodMTLS
	Issuer  string   // the token's iss, or the issuing CA's subject
	Subject string   // the token's sub, or the certificate's subject DN
	Name    string   // preferred_username or email, or the certificate's commonName
	Serial  string   // the client certificate's serial (hex), MethodMTLS only
	Roles   []string // role names, as the token or certificate grants them
	// Org is the organisation the caller belongs to (a certificate's
	// urn:vccpki:org:<org> URI SAN, the OIDC org claim); "" is the
	// operator, store.OperatorOrg. See Scope.
	Org string
}

// Scope is the organisation whose objects the caller may see and act on:
// "" (every organisation) for the operator's people, who run the CA for
// all, else the caller's own organisation. The API passes it into every
// store query (store.CertFilter.Org, store.AuditFilter.Org) and checks it
// on every single object it reads or changes.
func (p *Principal) Scope() string {
	if p == nil {
		return "-" // matches no organisation
	}
	if org := store.OrgOf(p.Org); org != store.OperatorOrg {
		return org
	}
	return ""
}

// Sees reports whether the caller may see and act on an object of the
// organisation org ("" is the operator's).
func (p *Principal) Sees(org string) bool {
	sc := p.Scope()
	return sc == "" || sc == store.OrgOf(org)
}

// String names the caller for the audit log: method, subject and name.
func (p *Principal) String() string {
	s := p.Method + ":" + p.Subject
	if p.Name != "" && p.Name != p.Subject {
		s += " (" + p.Name + ")"
	}
	if p.Serial != "" {
		s += " serial " + p.Serial
	}
	return s
}

// ErrNoCredentials: the request carries no credential this authenticator
// reads (no Authorization header, no client certificate). The next
// authenticator may try.
var ErrNoCredentials = errors.New("no credentials")

// Error is a refused credential: 401 for a missing, malformed, expired or
// foreign one (RFC 6750 §3.1 invalid_token), 403 for a valid credential
// that may not do this.
type Error struct {
	Status int
	Detail string // for the caller and the audit log; never a secret
}

func (e *Error) Error() string { return e.Detail }

// Unauthorized and Forbidden build refusals.
func Unauthorized(detail string) *Error {
	return &Error{Status: http.StatusUnauthorized, Detail: detail}
}
func Forbidden(detail string) *Error { return &Error{Status: http.StatusForbidden, Detail: detail} }

// Authenticator reads one kind of credential from a request.
type Authenticator interface {
	// Authenticate returns the caller; ErrNoCredentials when the request
	// carries none of this kind; an *Error when it carries a bad one.
	Authenticate(r *http.Request) (*Principal, error)
}

// Chain tries each authenticator in turn; the first that finds its kind
// of credential decides.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(r *http.Request) (*Principal, error) {
	for _, a := range c {
		p, err := a.Authenticate(r)
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		return p, err
	}
	return nil, ErrNoCredentials
}

// Permission is what an endpoint needs, "resource:action" (ca:create,
// cert:revoke, audit:read, …).
type Permission string

// Permissions of the API. An endpoint names exactly one.
const (
	CARead           Permission = "ca:read"
	CACreate         Permission = "ca:create"
	CARevoke         Permission = "ca:revoke"
	CertRead         Permission = "cert:read"
	CertRequest      Permission = "cert:request"
	CertIssue        Permission = "cert:issue"
	CertRevoke       Permission = "cert:revoke"
	ProfileRead      Permission = "profile:read"
	CredentialRead   Permission = "credential:read"
	CredentialCreate Permission = "credential:create"
	CredentialRevoke Permission = "credential:revoke"
	FleetRead        Permission = "fleet:read"
	FleetDiscover    Permission = "fleet:discover"
	FleetReissue     Permission = "fleet:reissue"
	AuditRead        Permission = "audit:read"
	AuditVerify      Permission = "audit:verify"
	TSARead          Permission = "tsa:read"
	ApprovalRead     Permission = "approval:read"
	ApprovalDecide   Permission = "approval:decide"
	SignArtifact     Permission = "sign:artifact"
	VerifyArtifact   Permission = "verify:artifact"
	SignRead         Permission = "sign:read" // the signature registry
	OrgRead          Permission = "org:read"
	OrgCreate        Permission = "org:create" // the operator's pki_admin only (Scope "")
	CARollover       Permission = "ca:rollover"
	OrgAddCA         Permission = "org:add-ca" // the operator's pki_admin only (Scope "")
)

// Roles maps each role to the permission patterns it grants: an exact
// permission, "resource:*", or "*".
type Roles map[string][]string

// DefaultRoles are the roles of the VCC roadmap. pki_admin decides
// approvals of dual control; profiles are readable by every role.
var DefaultRoles = Roles{
	"pki_admin":   {"ca:*", "cert:*", "credential:*", "fleet:*", "profile:read", "tsa:read", "approval:*", "audit:verify", "org:*"},
	"code_signer": {"sign:*", "cert:request", "profile:read"},
	"verifier":    {"verify:*", "cert:read", "profile:read", "sign:read"},
	"auditor":     {"audit:*", "cert:read", "ca:read", "profile:read", "tsa:read", "sign:read", "org:read"},
}

// Allows reports whether any of the principal's roles grants perm.
// Unknown roles grant nothing.
func (rs Roles) Allows(p *Principal, perm Permission) bool {
	if p == nil {
		return false
	}
	resource, _, _ := strings.Cut(string(perm), ":")
	for _, role := range p.Roles {
		for _, pat := range rs[role] {
			if pat == "*" || pat == string(perm) || pat == resource+":*" {
				return true
			}
		}
	}
	return false
}

// Known reports whether every role is defined, for configuration checks.
func (rs Roles) Known(roles ...string) bool {
	for _, r := range roles {
		if _, ok := rs[r]; !ok {
			return false
		}
	}
	return true
}

// Names lists the roles, sorted.
func (rs Roles) Names() []string {
	out := make([]string, 0, len(rs))
	for r := range rs {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}
