package api

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/internal/conf"
)

// FileConfig is the api: section of the configuration file.
type FileConfig struct {
	Enabled *bool `yaml:"enabled"` // default true
	// Roles replace auth.DefaultRoles as a whole: role name to permission
	// patterns ("cert:read", "cert:*", "*").
	Roles map[string][]string `yaml:"roles"`
	Rate  struct {
		Burst int           `yaml:"burst"` // requests per identity at once (default 60)
		Every conf.Duration `yaml:"every"` // one more every (default 1s)
	} `yaml:"rate"`
	ApprovalTTL conf.Duration `yaml:"approval_ttl"` // how long dual control waits (default 24h)
	// MaxSignBody bounds the body of POST /sign, which carries a DSSE
	// payload (a model's statement lists every file): bytes, default
	// DefaultMaxSignBody. Every other endpoint keeps MaxBody.
	MaxSignBody int64 `yaml:"max_sign_body"`
}

// Settings are the api: section, validated.
type Settings struct {
	Enabled     bool
	Roles       auth.Roles
	RateBurst   int
	RateEvery   time.Duration
	ApprovalTTL time.Duration
	MaxSignBody int64
}

// permissions is every permission an endpoint or a role may name.
var permissions = []auth.Permission{auth.CARead, auth.CACreate, auth.CARevoke, auth.CertRead, auth.CertRequest, auth.CertIssue,
	auth.CertRevoke, auth.ProfileRead, auth.CredentialRead, auth.CredentialCreate, auth.CredentialRevoke, auth.FleetRead,
	auth.FleetDiscover, auth.FleetReissue, auth.AuditRead, auth.AuditVerify, auth.TSARead, auth.ApprovalRead, auth.ApprovalDecide,
	auth.SignArtifact, auth.VerifyArtifact, auth.CARollover, auth.OrgAddCA}

// Settings checks the section: every role pattern names a permission, a
// resource's "*" or "*".
func (f FileConfig) Settings() (Settings, error) {
	s := Settings{Enabled: f.Enabled == nil || *f.Enabled, Roles: auth.DefaultRoles, RateBurst: f.Rate.Burst,
		RateEvery: time.Duration(f.Rate.Every), ApprovalTTL: time.Duration(f.ApprovalTTL), MaxSignBody: f.MaxSignBody}
	if s.MaxSignBody < 0 {
		return s, fmt.Errorf("field api.max_sign_body: %d is negative", s.MaxSignBody)
	}
	if s.RateBurst < 0 {
		return s, fmt.Errorf("field api.rate.burst: %d is negative", s.RateBurst)
	}
	if f.Roles == nil {
		return s, nil
	}
	resources := map[string]bool{}
	for _, p := range permissions {
		r, _, _ := strings.Cut(string(p), ":")
		resources[r] = true
	}
	for role, pats := range f.Roles {
		for _, pat := range pats {
			r, action, _ := strings.Cut(pat, ":")
			ok := pat == "*" || (action == "*" && resources[r]) || slices.Contains(permissions, auth.Permission(pat))
			if !ok {
				return s, fmt.Errorf("field api.roles.%s: %q is not a permission (resource:action, resource:* or *)", role, pat)
			}
		}
	}
	s.Roles = auth.Roles(f.Roles)
	return s, nil
}
