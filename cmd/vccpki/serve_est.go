package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/store"
)

// estFileConfig is the est section of the configuration file.
type estFileConfig struct {
	// Bootstrap lists external CAs whose client certificates may enrol
	// (RFC 7030 §3.3.2), each bound to profiles that accept bootstrap_cert.
	Bootstrap []struct {
		Name     string   `yaml:"name"`
		CAFile   string   `yaml:"ca_file"` // PEM: the anchor first, then any intermediates
		Profiles []string `yaml:"profiles"`
		// Identity is what names a device in its certificate: cn (the
		// subject commonName, the default) or serial (the subject
		// serialNumber attribute).
		Identity string `yaml:"identity"`
		// Names are the names a device may enrol for, each with {id} once
		// for its identity, e.g. "{id}.vpb.vcc.internal"; default: {id}.
		Names []string `yaml:"names"`
	} `yaml:"bootstrap"`
}

// resolveESTPaths makes the bootstrap CA files relative to the
// configuration file's directory.
func resolveESTPaths(c estFileConfig, rel func(string) string) estFileConfig {
	for i := range c.Bootstrap {
		c.Bootstrap[i].CAFile = rel(c.Bootstrap[i].CAFile)
	}
	return c
}

// estFrontEnd builds the EST server on the engine, with the bootstrap CAs
// of the configuration.
func (a *app) estFrontEnd(e *ca.Engine, httpsAddr string) (*est.FrontEnd, error) {
	users, ok := a.store.(store.ESTStore)
	if !ok {
		return nil, fmt.Errorf("the store does not keep EST credentials")
	}
	var bootstrap []est.BootstrapCA
	for i, b := range a.cfg.est.Bootstrap {
		certs, err := readPEMCerts(b.CAFile)
		if err != nil {
			return nil, fmt.Errorf("est.bootstrap[%d].ca_file: %w", i, err)
		}
		name := b.Name
		if name == "" {
			name = filepath.Base(b.CAFile)
		}
		bootstrap = append(bootstrap, est.BootstrapCA{Name: name, Certs: certs, Profiles: b.Profiles, Identity: b.Identity, Names: b.Names})
	}
	limits, prune := estLimits(a)
	s, err := est.New(est.Config{Engine: e, Users: users, Bootstrap: bootstrap, Log: a.log, Limits: limits})
	if err != nil {
		return nil, err
	}
	return &est.FrontEnd{Server: s, HTTPSAddr: httpsAddr, Background: prune}, nil
}

func readPEMCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return out, nil
}
