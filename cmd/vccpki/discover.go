package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/vcc/vccpki/fleet"
)

// runDiscover probes every endpoint of the service registry and reports
// which services are covered. Exit status 3 when any service needs action.
func runDiscover(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("discover", "[--services FILE] [--service NAME] [--json] [--timeout 5s] [--concurrency 8]", out)
	services := fs.String("services", "", "service registry (default: the configuration's fleet.services, configs/services.yaml)")
	only := fs.String("service", "", "probe only this service")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	timeout := fs.Duration("timeout", 0, "per endpoint: TCP connect, TLS handshake and status lookup (default: fleet.probe_timeout, 5s)")
	workers := fs.Int("concurrency", 0, "endpoints probed at once (default: fleet.concurrency, 8)")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if c, err := rf.client(); err != nil || c != nil {
		switch {
		case err != nil:
			return err
		case *services != "" || *timeout != 0 || *workers != 0:
			return &exitError{2, "--services, --timeout and --concurrency are for the local store; through the API the server's fleet settings apply"}
		}
		return remoteDiscover(ctx, c, out, *only, *asJSON)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	reg, err := a.loadRegistry(*services)
	if err != nil {
		return err
	}
	if *only != "" {
		s, ok := reg.Get(*only)
		if !ok {
			return &exitError{2, fmt.Sprintf("no service %q in the registry (known: %s)", *only, strings.Join(reg.Names(), ", "))}
		}
		reg = &fleet.Registry{Services: []fleet.Service{*s}}
	}
	// Discovery signs nothing: the engine opens without keys.
	e, err := a.keylessEngine(ctx)
	if err != nil {
		return err
	}
	d := a.discoverer(reg, e)
	if *timeout > 0 {
		d.Timeout = *timeout
	}
	if *workers > 0 {
		d.Concurrency = *workers
	}
	rep := d.Run(ctx)
	if err := a.audit(ctx, "fleet.discover", "services", fmt.Sprintf("ok: %d services, %d need action", len(rep.Services), rep.NotCovered)); err != nil {
		return err
	}
	return discoverReport(out, rep, *asJSON)
}
