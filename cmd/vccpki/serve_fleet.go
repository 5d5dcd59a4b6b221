package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/fleet"
)

// fleetFileConfig is the configuration file's "fleet" section.
type fleetFileConfig struct {
	// Services is the service registry; default configs/services.yaml.
	Services string `yaml:"services"`
	// Refresh is how often the server runs discovery for its metrics.
	Refresh duration `yaml:"refresh"`
	// ProbeTimeout bounds one endpoint's handshake and status lookup.
	ProbeTimeout duration `yaml:"probe_timeout"`
	// Concurrency is how many endpoints are probed at once.
	Concurrency int `yaml:"concurrency"`
}

type fleetConfig struct {
	services     string
	refresh      time.Duration
	probeTimeout time.Duration
	concurrency  int
}

func fleetSettings(f fleetFileConfig, rel func(string) string) (fleetConfig, error) {
	c := fleetConfig{services: rel(f.Services), refresh: time.Duration(f.Refresh), probeTimeout: time.Duration(f.ProbeTimeout), concurrency: f.Concurrency}
	if c.services == "" {
		c.services = filepath.Join("configs", "services.yaml")
	}
	if c.refresh == 0 {
		c.refresh = 5 * time.Minute
	}
	if c.probeTimeout == 0 {
		c.probeTimeout = 5 * time.Second
	}
	switch {
	case c.concurrency == 0:
		c.concurrency = 8
	case c.concurrency < 0 || c.concurrency > 256:
		return c, fmt.Errorf("field fleet.concurrency: %d is not between 1 and 256", c.concurrency)
	}
	if c.refresh < 10*time.Second {
		return c, fmt.Errorf("field fleet.refresh: %s is shorter than 10s", c.refresh)
	}
	return c, nil
}

// loadRegistry reads the service registry (path, else the configured
// one) and checks it against the profile templates.
func (a *app) loadRegistry(path string) (*fleet.Registry, error) {
	if path == "" {
		path = a.cfg.fleet.services
	}
	return fleet.LoadRegistry(path, a.profiles)
}

// discoverer builds discovery on an engine that needs no keys.
func (a *app) discoverer(reg *fleet.Registry, e *ca.Engine) *fleet.Discoverer {
	c := a.cfg.fleet
	return &fleet.Discoverer{Registry: reg, CA: e, Timeout: c.probeTimeout, Concurrency: c.concurrency}
}

// fleetFrontEnd runs discovery in the background every fleet.refresh and
// exports the result as metrics on reg. Without a registry file the
// server runs without it and says so on the banner.
func (a *app) fleetFrontEnd(e *ca.Engine, reg prometheus.Registerer) (*fleet.FrontEnd, error) {
	c := a.cfg.fleet
	registry, err := a.loadRegistry("")
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(c.services); errors.Is(statErr, fs.ErrNotExist) {
			return fleet.NewFrontEnd(nil, reg, c.refresh, c.services)
		}
	}
	if err != nil {
		return nil, err
	}
	return fleet.NewFrontEnd(a.discoverer(registry, e), reg, c.refresh, c.services)
}
