package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// runReissue is emergency re-certification: it revokes every valid
// certificate of a service (its profile) or of an issuing CA. Clients then
// renew by themselves: ACME renewal information answers a revoked
// certificate with a window in the past, "renew now" (RFC 9773 §4.2),
// which lego follows; certbot and the EST recipe's script see the
// revocation in OCSP. No client is touched.
func runReissue(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("reissue", "--service NAME | --issuer CA [--reason REASON] [--dry-run]", out)
	service := fs.String("service", "", "the service (registry name) whose certificates are replaced")
	issuer := fs.String("issuer", "", "an issuing CA (services, code-signing) all of whose certificates are replaced; after a rollover \"services\" is its first key generation, \"services_2\" the second")
	reasonName := fs.String("reason", "superseded", "RFC 5280 reason: keyCompromise when keys leaked, superseded otherwise")
	services := fs.String("services", "", "service registry (default: the configuration's fleet.services)")
	dryRun := fs.Bool("dry-run", false, "list the certificates that would be revoked, revoke none")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*service == "") == (*issuer == "") {
		return &exitError{2, "reissue needs exactly one of --service NAME and --issuer CA"}
	}
	reason, err := ca.ParseReason(*reasonName)
	if err != nil {
		return err
	}
	if c, err := rf.client(); err != nil || c != nil {
		switch {
		case err != nil:
			return err
		case *dryRun || *services != "":
			return &exitError{2, "--dry-run and --services are for the local store; through the API the request waits for a second pki_admin's approval"}
		}
		return remoteReissue(ctx, c, out, *service, *issuer, reason)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	filter, what := store.CertFilter{ValidAt: time.Now()}, ""
	if *service != "" {
		reg, err := a.loadRegistry(*services)
		if err != nil {
			return err
		}
		svc, ok := reg.Get(*service)
		if !ok {
			return &exitError{2, fmt.Sprintf("no service %q in the registry (known: %s)", *service, strings.Join(reg.Names(), ", "))}
		}
		filter.Profile, what = svc.Profile, "service "+svc.Name
	} else {
		known, err := ca.IssuingCANames(ctx, a.store)
		if err != nil {
			return err
		}
		gens, err := ca.IssuerKeys(ctx, a.store) // a rolled-over CA's generations: services_2, …
		if err != nil {
			return err
		}
		if !slices.Contains(known, *issuer) && !slices.Contains(gens, *issuer) {
			return &exitError{2, fmt.Sprintf("%q is not an issuing CA (%s)", *issuer, strings.Join(known, ", "))}
		}
		filter.Issuer, what = *issuer, "issuer "+*issuer
	}
	// Revocation signs nothing: the engine opens without keys.
	e, err := a.keylessEngine(ctx)
	if err != nil {
		return err
	}
	user := a.actor // local:<user>: the engine records operator:local:<user>
	by := ca.Requester{Protocol: ca.ProtocolOperator, Subject: user + " (reissue " + what + ")"}
	revoked, err := e.RevokeAll(ctx, filter, reason, by, *dryRun, func(c store.Certificate) {
		if *dryRun {
			fmt.Fprintf(out, "would revoke %s  %s  %s  until %s\n", c.Serial, c.Profile, c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(out, "revoked %s  %s  %s\n", c.Serial, c.Profile, c.Subject)
		}
	})
	if err != nil {
		return err
	}
	if *dryRun {
		return nil
	}
	if err := a.audit(ctx, "fleet.reissue", what, fmt.Sprintf("ok: %d certificates revoked (%s)", revoked, reason)); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d certificates revoked (%s) at %s; their clients renew at their next timer run (ARI says renew now, OCSP says revoked)\n",
		what, revoked, reason, time.Now().UTC().Format(time.RFC3339))
	return nil
}
