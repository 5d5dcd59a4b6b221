package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

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
	if err := parse(fs, args); err != nil {
		return err
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
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := printReport(out, rep); err != nil {
		return err
	}
	if rep.NotCovered > 0 {
		return &exitError{3, fmt.Sprintf("%d of %d services need action", rep.NotCovered, len(rep.Services))}
	}
	return nil
}

// printReport writes one line per endpoint, then the actions.
func printReport(out io.Writer, rep *fleet.Report) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENDPOINT\tREACHABLE\tCERTIFICATE\tISSUED BY\tEXPIRES IN\tNAMES\tOCSP\tSTATUS")
	for _, s := range rep.Services {
		for _, e := range s.Endpoints {
			reach, cert, days, names := "no", "-", "-", "-"
			if e.Reachable {
				reach, cert, days = "yes", e.Serial, expiresIn(e.NotAfter.Sub(rep.Time))
				if len(cert) > 16 {
					cert = cert[:16] + "…"
				}
				names = "mismatch"
				if e.NamesMatch {
					names = "ok"
				}
			}
			status := "covered"
			if e.Action != "" {
				status = "ACTION"
			}
			ocspState := e.OCSP
			if i := strings.IndexByte(ocspState, ':'); i > 0 {
				ocspState = ocspState[:i]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, e.Address, reach, cert, e.Origin, days, names, ocspState, status)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d services, %d covered, %d need action (probed in %s)\n", len(rep.Services), len(rep.Services)-rep.NotCovered, rep.NotCovered, rep.Took.Round(time.Millisecond))
	for _, s := range rep.Services {
		for _, e := range s.Endpoints {
			if e.Action != "" {
				fmt.Fprintf(out, "  %s %s: %s\n", s.Name, e.Address, e.Action)
			}
		}
	}
	return nil
}

// expiresIn writes a time left the way people read it: "6d23h", "1m35s",
// "expired".
func expiresIn(d time.Duration) string {
	switch {
	case d <= 0:
		return "expired"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return d.Truncate(time.Minute).String()
	}
	return d.Truncate(time.Second).String()
}
