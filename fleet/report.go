package fleet

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report for people: one line per endpoint, then
// the actions.
func (rep *Report) WriteTable(out io.Writer) error {
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
