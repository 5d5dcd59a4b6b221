package profile

import (
	"fmt"
	"slices"
)

// EST authentication methods a profile can accept for enrolment (RFC 7030
// §3.3.2 certificate-based, §3.2.3 HTTP Basic).
const (
	// ESTAuthClientCert: a TLS client certificate issued by this CA from
	// the same profile (a certificate of another profile is refused), for
	// the names it carries plus any an operator granted (vccpki est
	// grant). It is the only way to /simplereenroll.
	ESTAuthClientCert = "client_cert"
	// ESTAuthBootstrapCert: a TLS client certificate from an external CA
	// the server configuration binds to this profile (a manufacturer's
	// device certificate, RFC 7030 §3.3.2 "third party"), for the names
	// the configuration derives from the device identity it carries.
	ESTAuthBootstrapCert = "bootstrap_cert"
	// ESTAuthBasic: HTTP Basic credentials made with `vccpki est user add`.
	ESTAuthBasic = "basic"
)

// defaultESTAuth is what a profile open to EST accepts when its template
// has no est section.
var defaultESTAuth = []string{ESTAuthClientCert, ESTAuthBasic}

// ESTSettings are the EST rules of a profile.
type ESTSettings struct {
	Auth []string // accepted authentication methods, ESTAuth*
	// ChannelBinding requires the CSR's challengePassword to carry the TLS
	// session's channel binding (RFC 7030 §3.5: tls-unique on TLS 1.2,
	// the RFC 9266 tls-exporter value on TLS 1.3), so that a request cannot
	// be replayed through another TLS session.
	ChannelBinding bool
}

// Allows reports whether the authentication method is accepted.
func (s ESTSettings) Allows(method string) bool { return slices.Contains(s.Auth, method) }

type estConfig struct {
	Auth           []string `yaml:"auth"`
	ChannelBinding bool     `yaml:"channel_binding"`
}

func (c *checker) est(p *Profile, cfg *estConfig) {
	if cfg == nil {
		if p.AllowsProtocol(ProtocolEST) {
			p.EST = ESTSettings{Auth: slices.Clone(defaultESTAuth)}
		}
		return
	}
	if !p.AllowsProtocol(ProtocolEST) {
		c.addf("est", "is set but protocols does not list est; remove it or add est to protocols")
		return
	}
	known := func(s string) bool {
		return s == ESTAuthClientCert || s == ESTAuthBootstrapCert || s == ESTAuthBasic
	}
	p.EST = ESTSettings{
		Auth: c.names("est.auth", cfg.Auth, known,
			fmt.Sprintf("use %s, %s or %s", ESTAuthClientCert, ESTAuthBootstrapCert, ESTAuthBasic)),
		ChannelBinding: cfg.ChannelBinding,
	}
}
