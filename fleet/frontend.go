package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/internal/frontend"
)

// FrontEnd runs discovery in vccpki serve every Refresh and exports the
// result as metrics. It serves no routes.
type FrontEnd struct {
	metrics  *Metrics
	d        *Discoverer
	refresh  time.Duration
	services string // where the registry came from, for the banner
}

var _ frontend.FrontEnd = (*FrontEnd)(nil)

// NewFrontEnd registers the fleet metrics on reg. A nil discoverer means
// there is no registry (at services): the banner says so.
func NewFrontEnd(d *Discoverer, reg prometheus.Registerer, refresh time.Duration, services string) (*FrontEnd, error) {
	f := &FrontEnd{d: d, refresh: refresh, services: services}
	if d == nil {
		return f, nil
	}
	f.metrics = NewMetrics()
	if err := reg.Register(f.metrics); err != nil {
		return nil, err
	}
	return f, nil
}

// Register implements frontend.FrontEnd: discovery serves no routes.
func (f *FrontEnd) Register(frontend.Muxes) {}

// Banner implements frontend.FrontEnd.
func (f *FrontEnd) Banner() []string {
	if f.d == nil {
		return []string{"Fleet            no service registry (" + f.services + " not found): discovery metrics off"}
	}
	return []string{fmt.Sprintf("Fleet            %d services from %s, discovered every %s (vccpki_fleet_* metrics)",
		len(f.d.Registry.Services), f.services, f.refresh)}
}

// Run discovers every Refresh until ctx ends.
func (f *FrontEnd) Run(ctx context.Context) error {
	if f.d == nil {
		return frontend.Idle(ctx)
	}
	f.metrics.Watch(ctx, f.d, f.refresh)
	return nil
}

// Registry returns the service registry, nil without one.
func (f *FrontEnd) Registry() *Registry {
	if f.d == nil {
		return nil
	}
	return f.d.Registry
}

// Last returns the last discovery's report, nil before the first (or
// without a registry).
func (f *FrontEnd) Last() *Report {
	if f.d == nil {
		return nil
	}
	return f.metrics.Last()
}

// Discover runs a discovery now (the management API's trigger) and
// exports its result like the periodic ones.
func (f *FrontEnd) Discover(ctx context.Context) *Report {
	if f.d == nil {
		return nil
	}
	rep := f.d.Run(ctx)
	f.metrics.Set(rep)
	return rep
}
