package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/backend"
	"github.com/vcc/vccpki/ocsp"
	"github.com/vcc/vccpki/tsa"
)

// fileConfig is the configuration file as written (configs/dev.yaml shows
// every field). Relative paths are resolved against the file's directory.
type fileConfig struct {
	Data      string         `yaml:"data"`
	Store     string         `yaml:"store"`
	HTTPSAddr string         `yaml:"https_addr"`
	HTTPAddr  string         `yaml:"http_addr"`
	PublicURL string         `yaml:"public_url"`
	Metrics   metricsFile    `yaml:"metrics"`
	Profiles  string         `yaml:"profiles"`
	Keys      backend.Config `yaml:"keys"`
	Hierarchy hierarchyFile  `yaml:"hierarchy"`
	CRL       struct {
		Validity duration `yaml:"validity"`
		Shards   int      `yaml:"shards"`
		Full     *bool    `yaml:"full"`
	} `yaml:"crl"`
	VA    vaConfig        `yaml:"va"`
	ACME  acmeFileConfig  `yaml:"acme"`
	EST   estFileConfig   `yaml:"est"`
	TSA   tsaFile         `yaml:"tsa"`
	OCSP  ocspFile        `yaml:"ocsp"`
	Fleet fleetFileConfig `yaml:"fleet"`
	Log   logConfig       `yaml:"log"`
}

// metricsFile: /metrics has a listener of its own (serve_metrics.go).
type metricsFile struct {
	Addr string `yaml:"addr"` // HOST:PORT, or "off" to serve no metrics
}

type certFile struct {
	CommonName string   `yaml:"common_name"`
	KeyType    string   `yaml:"key_type"`
	Validity   duration `yaml:"validity"`
}

type hierarchyFile struct {
	Organization string   `yaml:"organization"`
	Country      string   `yaml:"country"`
	Province     string   `yaml:"province"`
	Locality     string   `yaml:"locality"`
	KeyType      string   `yaml:"key_type"`
	Root         certFile `yaml:"root"`
	Services     certFile `yaml:"services"`
	CodeSigning  certFile `yaml:"code_signing"`
	OCSP         certFile `yaml:"ocsp"`
	TSA          certFile `yaml:"tsa"`
	HTTPS        struct {
		certFile `yaml:",inline"`
		Names    []string `yaml:"names"`
	} `yaml:"https"`
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

// duration is a configuration duration: Go syntax ("90m", "2160h") or
// whole days ("3650d").
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = duration(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a duration (use e.g. 30d or 720h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 30d or 720h)", s)
	}
	return v, nil
}

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
	ocsp      ocsp.Config // the responder's settings and crl.full (serve_ocsp.go)
	va        vaConfig
	tsa       tsa.Config
	acme      acmeFileConfig
	log       logConfig
	est       estFileConfig
	fleet     fleetConfig // the service registry and discovery (serve_fleet.go)
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
		profiles: rel(fc.Profiles), keys: fc.Keys, crlValid: time.Duration(fc.CRL.Validity), va: fc.VA, acme: fc.ACME, log: fc.Log,
	}
	if err := c.keys.Resolve(rel); err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	storeURL, err := storeConfig(fc.Store)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	c.store = storeURL
	c.est = resolveESTPaths(fc.EST, rel)
	fl, ferr := fleetSettings(fc.Fleet, rel)
	if ferr != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), ferr)
	}
	c.fleet = fl
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
	oc, err := ocspConfig(fc.OCSP, fc.CRL.Shards, fc.CRL.Full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	c.ocsp = oc
	h, err := hierarchyConfig(fc.Hierarchy)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", orDefaults(path), err)
	}
	c.hierarchy = h
	if c.tsa, err = tsaConfig(fc.TSA); err != nil {
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

func hierarchyConfig(f hierarchyFile) (ca.HierarchyConfig, error) {
	h := ca.DefaultHierarchy()
	if f.Organization != "" {
		h.Organization = f.Organization
	}
	if f.Country != "" {
		h.Country = f.Country
	}
	h.Province, h.Locality = f.Province, f.Locality
	if f.KeyType != "" {
		t, err := keys.ParseType(f.KeyType)
		if err != nil {
			return h, fmt.Errorf("field hierarchy.key_type: %w", err)
		}
		for _, cc := range []*ca.CertConfig{&h.Root, &h.Services, &h.CodeSigning, &h.OCSP, &h.TSA, &h.HTTPS} {
			cc.KeyType = t
		}
	}
	for name, pair := range map[string]struct {
		in  certFile
		out *ca.CertConfig
	}{
		"root": {f.Root, &h.Root}, "services": {f.Services, &h.Services}, "code_signing": {f.CodeSigning, &h.CodeSigning},
		"ocsp": {f.OCSP, &h.OCSP}, "tsa": {f.TSA, &h.TSA}, "https": {f.HTTPS.certFile, &h.HTTPS},
	} {
		if pair.in.CommonName != "" {
			pair.out.CommonName = pair.in.CommonName
		}
		if pair.in.KeyType != "" {
			t, err := keys.ParseType(pair.in.KeyType)
			if err != nil {
				return h, fmt.Errorf("field hierarchy.%s.key_type: %w", name, err)
			}
			pair.out.KeyType = t
		}
		if pair.in.Validity != 0 {
			pair.out.Validity = time.Duration(pair.in.Validity)
		}
	}
	h.HTTPSNames = f.HTTPS.Names
	return h, nil
}
