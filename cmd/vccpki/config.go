package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys/backend"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/fleet"
	"github.com/vcc/vccpki/internal/conf"
	"github.com/vcc/vccpki/ocsp"
	"github.com/vcc/vccpki/tsa"
)

// fileConfig is the configuration file as written (configs/dev.yaml shows
// every field). Relative paths are resolved against the file's directory.
type fileConfig struct {
	Data      string           `yaml:"data"`
	Store     string           `yaml:"store"`
	HTTPSAddr string           `yaml:"https_addr"`
	HTTPAddr  string           `yaml:"http_addr"`
	PublicURL string           `yaml:"public_url"`
	Metrics   metricsFile      `yaml:"metrics"`
	Profiles  string           `yaml:"profiles"`
	Keys      backend.Config   `yaml:"keys"`
	Hierarchy ca.HierarchyFile `yaml:"hierarchy"`
	CRL       struct {
		Validity conf.Duration `yaml:"validity"`
		Shards   int           `yaml:"shards"`
		Full     *bool         `yaml:"full"`
		// RootValidity and RootWarnBefore: the offline root's CRL
		// (vccpki init --offline-root; ceremony sign-crl's default
		// validity, and how long before its nextUpdate serve warns).
		RootValidity   conf.Duration `yaml:"root_validity"`
		RootWarnBefore conf.Duration `yaml:"root_warn_before"`
	} `yaml:"crl"`
	VA    vaConfig         `yaml:"va"`
	ACME  acme.FileConfig  `yaml:"acme"`
	EST   est.FileConfig   `yaml:"est"`
	TSA   tsa.FileConfig   `yaml:"tsa"`
	OCSP  ocsp.FileConfig  `yaml:"ocsp"`
	Fleet fleet.FileConfig `yaml:"fleet"`
	API   apiFile          `yaml:"api"`
	Log   logConfig        `yaml:"log"`
}

// metricsFile: /metrics has a listener of its own (serve_metrics.go).
type metricsFile struct {
	Addr string `yaml:"addr"` // HOST:PORT, or "off" to serve no metrics
}

type vaConfig struct {
	DNS      string `yaml:"dns"`
	HTTPPort int    `yaml:"http_port"`
	TLSPort  int    `yaml:"tls_port"`
}

type logConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// parseDuration reads a duration flag as the file writes durations.
var parseDuration = conf.ParseDuration

// config is the validated configuration with flags applied.
type config struct {
	file      string // "" when built-in defaults are used
	data      string
	store     string // "" for DATA/vccpki.db (SQLite), else a postgres:// URL (store.go)
	httpsAddr string
	httpAddr  string
	publicURL string // may be "" until the HTTP listener's address is known
	metrics   string // listen address of /metrics, or "off"
	profiles  string
	keys      backend.Config
	hierarchy ca.HierarchyConfig
	crlValid  time.Duration
	crlShards int
	ocsp      ocsp.Config // the responder's settings and crl.full (ocsp.FileConfig)
	va        vaConfig
	tsa       tsa.Config
	acme      acme.FileConfig
	log       logConfig
	est       est.FileConfig
	fleet     fleet.Settings // the service registry and discovery
	api       api.Settings   // the management API
	apiAuth   apiAuthConfig  // api.auth: OIDC and mTLS callers of the API

	// rootCRLValid and rootCRLWarn: the offline root's CRL (ceremony.go).
	rootCRLValid, rootCRLWarn time.Duration
}

// loadConfig reads path (or uses defaults when path is ""). Every error
// names the file and the field.
func loadConfig(path string) (*config, error) {
	fc := fileConfig{}
	base := "."
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the configuration: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		base = filepath.Dir(path)
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c := &config{
		file: path, data: rel(fc.Data), httpsAddr: fc.HTTPSAddr, httpAddr: fc.HTTPAddr, publicURL: fc.PublicURL, metrics: fc.Metrics.Addr,
		profiles: rel(fc.Profiles), keys: fc.Keys, crlValid: time.Duration(fc.CRL.Validity),
		rootCRLValid: time.Duration(fc.CRL.RootValidity), rootCRLWarn: time.Duration(fc.CRL.RootWarnBefore), va: fc.VA, acme: fc.ACME, log: fc.Log,
	}
	if err := c.keys.Resolve(rel); err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	storeURL, err := storeConfig(fc.Store)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	c.store = storeURL
	c.est = fc.EST.Resolve(rel)
	fl, ferr := fc.Fleet.Settings(rel)
	if ferr != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), ferr)
	}
	c.fleet = fl
	if c.api, err = fc.API.Settings(); err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.data, "data")
	def(&c.httpsAddr, "127.0.0.1:8443")
	def(&c.httpAddr, "127.0.0.1:8080")
	def(&c.metrics, defaultMetricsAddr)
	def(&c.profiles, filepath.Join("configs", "profiles"))
	def(&c.log.Level, "info")
	def(&c.log.Format, "text")
	if c.va.HTTPPort == 0 {
		c.va.HTTPPort = 80
	}
	if c.va.TLSPort == 0 {
		c.va.TLSPort = 443
	}
	if c.publicURL != "" {
		if c.publicURL, err = ca.NormalizePublicURL(c.publicURL); err != nil {
			return nil, fmt.Errorf("%s: field public_url: %w", orDefaults(path), err)
		}
	}
	c.crlShards = fc.CRL.Shards
	oc, err := fc.OCSP.Config(fc.CRL.Shards, fc.CRL.Full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	c.ocsp = oc
	h, err := fc.Hierarchy.Config()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	c.hierarchy = h
	if c.tsa, err = fc.TSA.Config(); err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	if c.apiAuth, err = fc.API.Auth.resolve(); err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	return c, nil
}

func orDefaults(path string) string {
	if path == "" {
		return "built-in defaults"
	}
	return path
}
