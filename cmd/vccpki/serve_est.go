package main

import (
	"fmt"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/store"
)

// estFrontEnd builds the EST server on the engine, with the bootstrap CAs
// of the configuration.
func (a *app) estFrontEnd(e *ca.Engine, httpsAddr string) (*est.FrontEnd, error) {
	users, ok := a.store.(store.ESTStore)
	if !ok {
		return nil, fmt.Errorf("the store does not keep EST credentials")
	}
	bootstrap, err := a.cfg.est.BootstrapCAs()
	if err != nil {
		return nil, err
	}
	limits, prune := estLimits(a)
	s, err := est.New(est.Config{Engine: e, Users: users, Bootstrap: bootstrap, Log: a.log, Limits: limits})
	if err != nil {
		return nil, err
	}
	return &est.FrontEnd{Server: s, HTTPSAddr: httpsAddr, Background: prune}, nil
}
