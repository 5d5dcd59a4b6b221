package acme

import (
	"context"
	"fmt"
	"strings"

	"github.com/vcc/vccpki/internal/frontend"
)

// FrontEnd serves ACME in vccpki serve: over HTTPS only (RFC 8555 §6.1).
type FrontEnd struct {
	Server *Server
	// HTTPSAddr is the HTTPS listener's address, the directory's base
	// when Config.ExternalURL is empty.
	HTTPSAddr string
	// Leased runs shared work at one instance at a time (nil: here).
	Leased func(ctx context.Context, name string, fn func(context.Context))
}

var _ frontend.FrontEnd = (*FrontEnd)(nil)

// Register implements frontend.FrontEnd.
func (f *FrontEnd) Register(m frontend.Muxes) { m.HTTPS.Handle("/acme/", f.Server.Handler()) }

// Banner implements frontend.FrontEnd.
func (f *FrontEnd) Banner() []string {
	c := f.Server.cfg
	base := c.ExternalURL
	if base == "" {
		base = "https://" + f.HTTPSAddr
	}
	dns := c.Validator.DNS
	if dns == "" {
		dns = "system resolver"
	}
	va := fmt.Sprintf("validator: DNS %s, http-01 port %d, tls-alpn-01 port %d", dns, c.Validator.HTTPPort, c.Validator.TLSPort)
	return []string{"ACME directory   " + strings.TrimRight(base, "/") + "/acme/directory (" + va + ")"}
}

// Run prunes spent nonces and dead orders (shared work: leased) until ctx
// ends, then waits for the validations in flight.
func (f *FrontEnd) Run(ctx context.Context) error {
	defer f.Server.Close()
	if f.Leased == nil {
		f.Server.Run(ctx)
		return nil
	}
	f.Leased(ctx, "acme.prune", f.Server.Run)
	return nil
}
