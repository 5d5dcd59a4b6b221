package fleet

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/vcc/vccpki/internal/conf"
)

// FileConfig is the configuration file's "fleet" section.
type FileConfig struct {
	// Services is the service registry; default configs/services.yaml.
	Services string `yaml:"services"`
	// Refresh is how often the server runs discovery for its metrics.
	Refresh conf.Duration `yaml:"refresh"`
	// ProbeTimeout bounds one endpoint's handshake and status lookup.
	ProbeTimeout conf.Duration `yaml:"probe_timeout"`
	// Concurrency is how many endpoints are probed at once.
	Concurrency int `yaml:"concurrency"`
}

// Settings are the validated section, defaults applied.
type Settings struct {
	Services     string
	Refresh      time.Duration
	ProbeTimeout time.Duration
	Concurrency  int
}

// Settings validates the section; rel resolves the registry's path
// against the configuration file's directory.
func (f FileConfig) Settings(rel func(string) string) (Settings, error) {
	c := Settings{Services: rel(f.Services), Refresh: time.Duration(f.Refresh), ProbeTimeout: time.Duration(f.ProbeTimeout), Concurrency: f.Concurrency}
	if c.Services == "" {
		c.Services = filepath.Join("configs", "services.yaml")
	}
	if c.Refresh == 0 {
		c.Refresh = 5 * time.Minute
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = 5 * time.Second
	}
	switch {
	case c.Concurrency == 0:
		c.Concurrency = 8
	case c.Concurrency < 0 || c.Concurrency > 256:
		return c, fmt.Errorf("field fleet.concurrency: %d is not between 1 and 256", c.Concurrency)
	}
	if c.Refresh < 10*time.Second {
		return c, fmt.Errorf("field fleet.refresh: %s is shorter than 10s", c.Refresh)
	}
	return c, nil
}
