package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/seal"
)

// acmeFrontEnd builds the ACME server on the engine. Its secrets follow
// the seal (gate nil: a key store that is never sealed).
func (a *app) acmeFrontEnd(ctx context.Context, e *ca.Engine, gate *seal.Gate, httpsAddr string) (*acme.FrontEnd, error) {
	cfg, va := a.cfg.acme.Config(), a.cfg.va
	cfg.Secrets, cfg.Log = e.SecretSealer(), a.log
	cfg.Validator = acme.ValidatorConfig{DNS: va.DNS, HTTPPort: va.HTTPPort, TLSPort: va.TLSPort}
	srv, err := acme.New(ctx, cfg, e, a.store)
	if err != nil {
		return nil, err
	}
	gate.HoldSecrets(srv)
	return &acme.FrontEnd{Server: srv, HTTPSAddr: httpsAddr, Leased: a.leases().Run}, nil
}

// runEABCreate makes an external account binding key bound to a service.
func runEABCreate(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("eab create", "--service NAME [--json]", out)
	service := fs.String("service", "", "profile (service) the accounts this key creates are bound to")
	asJSON := fs.Bool("json", false, "print {\"kid\", \"hmac\", \"service\"} as JSON")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *service == "" {
		return &exitError{2, "eab create needs --service NAME (see vccpki profiles list)"}
	}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		return remoteEABCreate(ctx, c, out, *service, *asJSON)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	p, ok := a.profiles.Get(*service)
	if !ok || !p.AllowsProtocol(profile.ProtocolACME) {
		return &exitError{2, fmt.Sprintf("no profile %q open to ACME; ACME profiles: %s", *service, strings.Join(acmeProfiles(a.profiles), ", "))}
	}
	kid, hmac, err := acme.CreateEABKey(ctx, a.store, p.Organisation, p.Name, a.actor, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(map[string]string{"kid": kid, "hmac": hmac, "service": *service})
	}
	_, err = fmt.Fprintf(out, "kid=%s\nhmac=%s\n", kid, hmac)
	return err
}

func acmeProfiles(s *profile.Set) []string {
	var names []string
	for _, p := range s.All() {
		if p.AllowsProtocol(profile.ProtocolACME) {
			names = append(names, p.Name)
		}
	}
	return names
}
