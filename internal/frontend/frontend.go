// Package frontend is the lifecycle every protocol front end has in
// vccpki serve: it registers its routes, says where it is served, and
// runs its background work until the server stops.
package frontend

import (
	"context"
	"crypto/tls"
	"net/http"
	"time"
)

// Muxes are the server's route tables. Routes on HTTP are served on both
// listeners; routes on HTTPS only over TLS.
type Muxes struct {
	HTTP, HTTPS *http.ServeMux
}

// FrontEnd is one protocol served by vccpki serve.
type FrontEnd interface {
	// Register mounts the front end's routes.
	Register(Muxes)
	// Banner is the lines serve prints about it at start.
	Banner() []string
	// Run does the front end's background work until ctx ends, and
	// returns when all of it has stopped. An error stops the server.
	Run(ctx context.Context) error
}

// Wrapper is a front end that must also stand in front of each listener's
// whole handler (OCSP GET requests whose path the mux would clean).
type Wrapper interface {
	Wrap(http.Handler) http.Handler
}

// TLSConfigurer is a front end that needs settings of the HTTPS
// listener's TLS configuration (EST asks for client certificates).
type TLSConfigurer interface {
	ConfigureTLS(*tls.Config)
}

// Idle is the Run of a front end without background work.
func Idle(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Repeat runs fn at once and then every interval until ctx ends.
func Repeat(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
