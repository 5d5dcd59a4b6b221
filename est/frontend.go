package est

import (
	"context"
	"crypto/tls"

	"github.com/vcc/vccpki/internal/frontend"
)

// FrontEnd serves EST in vccpki serve: over HTTPS only (RFC 7030 §3.3).
type FrontEnd struct {
	Server    *Server
	HTTPSAddr string
	// Background is work that runs while the server does (pruning shared
	// failure counts); nil for none.
	Background func(ctx context.Context)
}

var (
	_ frontend.FrontEnd      = (*FrontEnd)(nil)
	_ frontend.TLSConfigurer = (*FrontEnd)(nil)
)

// Register implements frontend.FrontEnd.
func (f *FrontEnd) Register(m frontend.Muxes) { m.HTTPS.Handle(PathPrefix, f.Server) }

// ConfigureTLS asks for a client certificate, naming our root and the
// bootstrap CAs; EST verifies what it gets, so that a wrong certificate
// gets an EST error rather than a failed handshake.
func (f *FrontEnd) ConfigureTLS(tc *tls.Config) {
	tc.ClientAuth = tls.RequestClientCert
	tc.ClientCAs = f.Server.ClientCAs()
}

// Banner implements frontend.FrontEnd.
func (f *FrontEnd) Banner() []string {
	return []string{"EST              https://" + f.HTTPSAddr + PathPrefix + "[<profile>/]{cacerts,csrattrs,simpleenroll,simplereenroll,serverkeygen}"}
}

// Run implements frontend.FrontEnd.
func (f *FrontEnd) Run(ctx context.Context) error {
	if f.Background != nil {
		f.Background(ctx)
		return nil
	}
	return frontend.Idle(ctx)
}
