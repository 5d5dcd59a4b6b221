package main

import (
	"errors"
	"io/fs"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/fleet"
)

// loadRegistry reads the service registry (path, else the configured
// one) and checks it against the profile templates.
func (a *app) loadRegistry(path string) (*fleet.Registry, error) {
	if path == "" {
		path = a.cfg.fleet.Services
	}
	return fleet.LoadRegistry(path, a.profiles)
}

// discoverer builds discovery on an engine that needs no keys.
func (a *app) discoverer(reg *fleet.Registry, e *ca.Engine) *fleet.Discoverer {
	c := a.cfg.fleet
	return &fleet.Discoverer{Registry: reg, CA: e, Timeout: c.ProbeTimeout, Concurrency: c.Concurrency}
}

// fleetFrontEnd runs discovery in the background every fleet.refresh and
// exports the result as metrics on reg. Without a registry file the
// server runs without it and says so on the banner.
func (a *app) fleetFrontEnd(e *ca.Engine, reg prometheus.Registerer) (*fleet.FrontEnd, error) {
	c := a.cfg.fleet
	registry, err := a.loadRegistry("")
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(c.Services); errors.Is(statErr, fs.ErrNotExist) {
			return fleet.NewFrontEnd(nil, reg, c.Refresh, c.Services)
		}
	}
	if err != nil {
		return nil, err
	}
	return fleet.NewFrontEnd(a.discoverer(registry, e), reg, c.Refresh, c.Services)
}
