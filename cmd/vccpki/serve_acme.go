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
	"github.com/vcc/vccpki/store"
)

// acmeFileConfig is the configuration file's "acme" section.
type acmeFileConfig struct {
	// ExternalURL is the base of the URLs in the directory, Location and
	// Link headers; empty: the scheme and Host each client used.
	ExternalURL             string   `yaml:"external_url"`
	ExternalAccountRequired bool     `yaml:"external_account_required"`
	TermsOfService          string   `yaml:"terms_of_service"`
	Website                 string   `yaml:"website"`
	CAAIdentities           []string `yaml:"caa_identities"`
	OrdersPerHour           int      `yaml:"orders_per_hour"`
	MaxPendingAuthzs        int      `yaml:"max_pending_authzs"`
	MaxBodyBytes            int64    `yaml:"max_body_bytes"`
	ChallengeWait           duration `yaml:"challenge_wait"`
	// Per client address (token buckets; issue 13.7): new accounts and
	// new orders. Zero fields take acme.DefaultAccountsPerAddress and
	// acme.DefaultOrdersPerAddress.
	AccountsPerAddress       limitConfig `yaml:"accounts_per_address"`
	OrdersPerAddress         limitConfig `yaml:"orders_per_address"`
	MaxValidationsPerAccount int         `yaml:"max_validations_per_account"`
	// PruneRetention: how long expired orders and authorizations stay
	// before the (leased) pruning deletes them.
	PruneRetention duration `yaml:"prune_retention"`
}

// limitConfig is a token bucket: burst requests at once, then one every.
type limitConfig struct {
	Burst int      `yaml:"burst"`
	Every duration `yaml:"every"`
}

func (l limitConfig) limit() acme.Limit {
	return acme.Limit{Burst: l.Burst, Every: time.Duration(l.Every)}
}

// acmeFrontEnd builds the ACME server on the engine. Its secrets follow
// the seal (gate nil: a key store that is never sealed).
func (a *app) acmeFrontEnd(ctx context.Context, e *ca.Engine, gate *seal.Gate, httpsAddr string) (*acme.FrontEnd, error) {
	st, ok := a.store.(store.ACMEStore)
	if !ok {
		return nil, fmt.Errorf("the store does not keep ACME state")
	}
	ac, va := a.cfg.acme, a.cfg.va
	srv, err := acme.New(ctx, acme.Config{
		ExternalURL: ac.ExternalURL, ExternalAccountRequired: ac.ExternalAccountRequired,
		TermsOfService: ac.TermsOfService, Website: ac.Website, CAAIdentities: ac.CAAIdentities,
		OrdersPerHour: ac.OrdersPerHour, MaxPendingAuthzs: ac.MaxPendingAuthzs, MaxBodyBytes: ac.MaxBodyBytes,
		ChallengeWait:      time.Duration(ac.ChallengeWait),
		AccountsPerAddress: ac.AccountsPerAddress.limit(), OrdersPerAddress: ac.OrdersPerAddress.limit(),
		MaxValidationsPerAccount: ac.MaxValidationsPerAccount, PruneRetention: time.Duration(ac.PruneRetention),
		Secrets:   e.SecretSealer(),
		Validator: acme.ValidatorConfig{DNS: va.DNS, HTTPPort: va.HTTPPort, TLSPort: va.TLSPort},
		Log:       a.log,
	}, e, st)
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
	if err := parse(fs, args); err != nil {
		return err
	}
	if *service == "" {
		return &exitError{2, "eab create needs --service NAME (see vccpki profiles list)"}
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
	st, ok := a.store.(store.ACMEStore)
	if !ok {
		return fmt.Errorf("the store does not keep ACME state")
	}
	kid, hmac, err := acme.CreateEABKey(ctx, st, *service, a.actor, time.Now())
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
