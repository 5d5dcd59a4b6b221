package tsa

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/vcc/vccpki/internal/conf"
)

// FileConfig is the tsa: section of the configuration file.
type FileConfig struct {
	// Policies are the TSA policy OIDs offered; the first goes into
	// tokens whose request names none.
	Policies []string      `yaml:"policies"`
	Accuracy conf.Duration `yaml:"accuracy"`
	Hashes   []string      `yaml:"hashes"`
	// MaxRequestBytes bounds a request body.
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
}

// DefaultPolicyOID sits under the enterprise number IANA keeps for
// documentation (RFC 5612): a placeholder that works out of the box. An
// organisation running vccpki names its own policy in the configuration
// (arcs above 2^63, such as UUID arcs under 2.25, work with openssl but
// not with clients built on Go's encoding/asn1).
const DefaultPolicyOID = "1.3.6.1.4.1.32473.3161.1"

// Config validates the section into the handler's configuration.
func (f FileConfig) Config() (Config, error) {
	c := Config{Accuracy: time.Second, MaxRequestBytes: f.MaxRequestBytes}
	if f.Accuracy != 0 {
		c.Accuracy = time.Duration(f.Accuracy)
	}
	policies := f.Policies
	if len(policies) == 0 {
		policies = []string{DefaultPolicyOID}
	}
	for _, p := range policies {
		oid, err := x509.ParseOID(p)
		if err != nil {
			return c, fmt.Errorf("field tsa.policies: %q is not an object identifier (dotted decimal, e.g. 1.3.6.1.4.1.99999.1)", p)
		}
		c.Policies = append(c.Policies, oid)
	}
	for _, name := range f.Hashes {
		h, err := ParseHash(name)
		if err != nil {
			return c, fmt.Errorf("field tsa.hashes: %w", err)
		}
		c.Hashes = append(c.Hashes, h)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("section tsa: %w", err)
	}
	return c, nil
}
