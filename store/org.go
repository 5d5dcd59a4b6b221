package store

import (
	"context"
	"time"
)

// OperatorOrg is the operator organisation: the VCC services, today's
// URLs, and everything that existed before organisations did. The
// migration creates it; an org column left empty means it.
const OperatorOrg = "vcc"

// Organisation is a tenant: it owns issuing CAs, profiles, credentials
// (EAB keys, EST users), ACME accounts and its audit entries.
type Organisation struct {
	Name      string // DNS-label-like slug, e.g. "brandenburg"
	Display   string
	CreatedAt time.Time
	CreatedBy string
	CAs       []string // issuing CAs it owns, sorted
}

// OrgOf returns org, or OperatorOrg when it is empty.
func OrgOf(org string) string {
	if org == "" {
		return OperatorOrg
	}
	return org
}

// OrgStore persists organisations and which issuing CAs each owns. An
// issuing CA that no organisation claims belongs to OperatorOrg.
type OrgStore interface {
	// CreateOrganisation stores o (without CAs) and ev in one
	// transaction. ErrConflict if the name exists.
	CreateOrganisation(ctx context.Context, o Organisation, ev AuditEvent) error
	// Organisation returns one organisation with its CAs, or ErrNotFound.
	Organisation(ctx context.Context, name string) (Organisation, error)
	// Organisations returns every organisation with its CAs, by name.
	Organisations(ctx context.Context) ([]Organisation, error)
	// AddOrganisationCA records that org owns the issuing CA named ca and
	// appends ev, in one transaction. ErrNotFound for an unknown
	// organisation; ErrConflict if another organisation owns the CA
	// (adding it again to its owner is a no-op that is still audited).
	AddOrganisationCA(ctx context.Context, org, ca string, ev AuditEvent) error
	// CAOrganisation returns the organisation owning an issuing CA:
	// OperatorOrg for one no organisation claims.
	CAOrganisation(ctx context.Context, ca string) (string, error)
}

// ValidOrgName reports whether name is a well-formed organisation name: a
// DNS label (RFC 1035 §2.3.1, lowercase), since it appears in URL paths
// (/acme/<org>/directory) and in URI SANs (urn:vccpki:org:<org>).
func ValidOrgName(name string) bool {
	if len(name) == 0 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
