package ocsp

import (
	"crypto"
	"fmt"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/conf"
)

// FileConfig is the ocsp: section of the configuration file.
type FileConfig struct {
	Validity       conf.Duration `yaml:"validity"`
	Presign        []string      `yaml:"presign"`
	PollInterval   string        `yaml:"poll_interval"`
	LiveSignatures int           `yaml:"live_signatures_per_second"`
	MaxAge         conf.Duration `yaml:"max_age"`
}

// Config validates the ocsp: section, and crl.shards and crl.full, into
// the responder's configuration.
func (f FileConfig) Config(shards int, full *bool) (Config, error) {
	c := Config{Validity: time.Duration(f.Validity), LiveSignatures: f.LiveSignatures, MaxAge: time.Duration(f.MaxAge), FullCRL: true}
	if shards < 0 || shards > ca.MaxCRLShards {
		return c, fmt.Errorf("field crl.shards: %d is not between 0 and %d", shards, ca.MaxCRLShards)
	}
	if full != nil {
		if !*full && shards == 0 {
			return c, fmt.Errorf("field crl.full: the full CRL is the only one without crl.shards; it cannot be switched off")
		}
		c.FullCRL = *full
	}
	if f.Validity != 0 && time.Duration(f.Validity) < time.Hour {
		return c, fmt.Errorf("field ocsp.validity: %v is shorter than an hour", time.Duration(f.Validity))
	}
	for _, name := range f.Presign {
		switch strings.ToLower(strings.ReplaceAll(name, "-", "")) {
		case "sha1":
			c.Presign = append(c.Presign, crypto.SHA1)
		case "sha256":
			c.Presign = append(c.Presign, crypto.SHA256)
		default:
			return c, fmt.Errorf("field ocsp.presign: %q is not sha1 or sha256", name)
		}
	}
	if f.Presign != nil && c.Presign == nil {
		c.Presign = []crypto.Hash{} // an empty list: sign everything on request
	}
	if f.PollInterval != "" {
		d, err := time.ParseDuration(f.PollInterval)
		if err != nil || d < 10*time.Millisecond || d > time.Minute {
			return c, fmt.Errorf("field ocsp.poll_interval: %q is not a duration between 10ms and 1m", f.PollInterval)
		}
		c.PollInterval = d
	}
	if f.LiveSignatures < -1 {
		return c, fmt.Errorf("field ocsp.live_signatures_per_second: %d (use -1 for no limit)", f.LiveSignatures)
	}
	return c, nil
}
