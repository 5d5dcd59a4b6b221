package est

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// FileConfig is the est section of the configuration file.
type FileConfig struct {
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

// Resolve makes the bootstrap CA files relative to the configuration
// file's directory.
func (c FileConfig) Resolve(rel func(string) string) FileConfig {
	for i := range c.Bootstrap {
		c.Bootstrap[i].CAFile = rel(c.Bootstrap[i].CAFile)
	}
	return c
}

// BootstrapCAs reads the bootstrap CAs' files.
func (c FileConfig) BootstrapCAs() ([]BootstrapCA, error) {
	var out []BootstrapCA
	for i, b := range c.Bootstrap {
		certs, err := readPEMCerts(b.CAFile)
		if err != nil {
			return nil, fmt.Errorf("est.bootstrap[%d].ca_file: %w", i, err)
		}
		name := b.Name
		if name == "" {
			name = filepath.Base(b.CAFile)
		}
		out = append(out, BootstrapCA{Name: name, Certs: certs, Profiles: b.Profiles, Identity: b.Identity, Names: b.Names})
	}
	return out, nil
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
