package main

import (
	"context"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/fleet"
)

// apiFrontEnd builds the management API on the engine, with the fleet's
// discovery when there is a service registry. Nil when api.enabled is
// false.
func (a *app) apiFrontEnd(ctx context.Context, e *ca.Engine, fl *fleet.FrontEnd, httpsAddr string) (*api.Server, error) {
	c := a.cfg.api
	if !c.Enabled {
		return nil, nil
	}
	authn, err := apiAuthenticator(ctx, a, e)
	if err != nil {
		return nil, err
	}
	cfg := api.Config{Engine: e, Store: a.store, Authenticator: authn, Roles: c.Roles, RateBurst: c.RateBurst, RateEvery: c.RateEvery,
		ApprovalTTL: c.ApprovalTTL, MaxSignBody: c.MaxSignBody, Log: a.log, HTTPSAddr: httpsAddr, LoginInfo: a.cfg.apiAuth.login}
	if pol := a.cfg.tsa.Policies; len(pol) > 0 {
		// Server-side signatures are time-stamped in process, with the
		// TSA's default policy.
		if cfg.TimestampPolicy, err = ca.NewTimestampPolicy(pol[0]); err != nil {
			return nil, err
		}
	}
	if fl != nil && fl.Registry() != nil {
		cfg.Fleet = fl
	}
	return api.New(cfg)
}
