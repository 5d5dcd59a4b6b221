package main

import (
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/est"
)

// estFrontEnd builds the EST server on the engine, with the bootstrap CAs
// of the configuration.
func (a *app) estFrontEnd(e *ca.Engine, httpsAddr string) (*est.FrontEnd, error) {
	users := a.store
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
