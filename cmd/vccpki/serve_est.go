package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/est"
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

// mountEST serves EST on the HTTPS mux only (RFC 7030 §3.3: EST runs over
// TLS) and sets the TLS configuration it needs: the server asks for a
// client certificate, naming our root and the bootstrap CAs, and EST
// verifies what it gets (so that a wrong certificate gets an EST error
// rather than a failed handshake). It returns the banner line.
func mountEST(ctx context.Context, a *app, e *ca.Engine, httpsMux *http.ServeMux, tc *tls.Config, httpsAddr string) (string, error) {
	users := a.store
	var bootstrap []est.BootstrapCA
	for i, b := range a.cfg.est.Bootstrap {
		certs, err := readPEMCerts(b.CAFile)
		if err != nil {
			return "", fmt.Errorf("est.bootstrap[%d].ca_file: %w", i, err)
		}
		name := b.Name
		if name == "" {
			name = filepath.Base(b.CAFile)
		}
		bootstrap = append(bootstrap, est.BootstrapCA{Name: name, Certs: certs, Profiles: b.Profiles, Identity: b.Identity, Names: b.Names})
	}
	s, err := est.New(est.Config{Engine: e, Users: users, Bootstrap: bootstrap, Log: a.log, Limits: estLimits(ctx, a)})
	if err != nil {
		return "", err
	}
	tc.ClientAuth = tls.RequestClientCert
	tc.ClientCAs = s.ClientCAs()
	httpsMux.Handle(est.PathPrefix, s)
	return "EST              https://" + httpsAddr + est.PathPrefix + "[<profile>/]{cacerts,csrattrs,simpleenroll,simplereenroll,serverkeygen}", nil
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
