// Package fleet is the service registry (configs/services.yaml) and the
// discovery of what each service really presents: a TLS handshake with
// every endpoint, the certificate classified against this CA (ours,
// self-signed, another CA's), its expiry, its names against the service's
// profile, its OCSP status, and the action an operator must take. The same
// report feeds `vccpki discover` and the server's Prometheus metrics.
package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vcc/vccpki/ca/profile"
)

// Enrolment protocols and the clients a recipe is written for.
const (
	ProtocolACME = "acme"
	ProtocolEST  = "est"

	ClientLego      = "lego"
	ClientCertbot   = "certbot"
	ClientEstclient = "estclient"
)

// maxRegistrySize bounds the registry file, so a wrong path is not slurped.
const maxRegistrySize = 1 << 20

// Registry is the validated list of services.
type Registry struct {
	Services []Service
}

// Service is one service of the registry.
type Service struct {
	Name      string     `yaml:"name"`
	Profile   string     `yaml:"profile"`  // profile template; default: Name
	Protocol  string     `yaml:"protocol"` // acme or est
	Client    string     `yaml:"client"`   // lego, certbot or estclient; default: lego for acme, estclient for est
	Endpoints []Endpoint `yaml:"endpoints"`
}

// Endpoint is one TLS endpoint of a service.
type Endpoint struct {
	Address string `yaml:"address"` // host:port
	SNI     string `yaml:"sni"`     // server name sent; default: the host when it is a name
}

// ServerName is the name sent in the handshake and expected in the
// certificate: SNI, else the address's host; "" for a bare IP address
// without SNI (then the IP must be in the certificate).
func (ep Endpoint) ServerName() string {
	if ep.SNI != "" {
		return ep.SNI
	}
	host, _, _ := net.SplitHostPort(ep.Address)
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}

// Names are the DNS names a certificate for this service should hold: each
// endpoint's server name, else its IP address, without duplicates.
func (s *Service) Names() []string {
	var names []string
	for _, ep := range s.Endpoints {
		n := ep.ServerName()
		if n == "" {
			n, _, _ = net.SplitHostPort(ep.Address)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Get returns the service called name.
func (r *Registry) Get(name string) (*Service, bool) {
	for i := range r.Services {
		if r.Services[i].Name == name {
			return &r.Services[i], true
		}
	}
	return nil, false
}

// Names returns the service names in registry order.
func (r *Registry) Names() []string {
	names := make([]string, len(r.Services))
	for i, s := range r.Services {
		names[i] = s.Name
	}
	return names
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// LoadRegistry reads and validates a registry file against the profile
// templates. Every problem is reported, each naming the file and field.
func LoadRegistry(path string, profiles *profile.Set) (*Registry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("service registry: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRegistrySize+1))
	if err != nil {
		return nil, fmt.Errorf("service registry: %w", err)
	}
	if len(data) > maxRegistrySize {
		return nil, fmt.Errorf("%s: larger than %d bytes; not a service registry", path, maxRegistrySize)
	}
	return ParseRegistry(path, data, profiles)
}

// ParseRegistry validates registry data; file names it in errors.
func ParseRegistry(file string, data []byte, profiles *profile.Set) (*Registry, error) {
	var doc struct {
		Services []Service `yaml:"services"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var errs []error
	bad := func(i int, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: services[%d].%s: %s", file, i, field, fmt.Sprintf(format, args...)))
	}
	if len(doc.Services) == 0 {
		errs = append(errs, fmt.Errorf("%s: no services: list them under \"services:\"", file))
	}
	seen := map[string]bool{}
	for i := range doc.Services {
		s := &doc.Services[i]
		if !validName.MatchString(s.Name) {
			bad(i, "name", "%q is not a service name (lowercase letters, digits and dashes)", s.Name)
		} else if seen[s.Name] {
			bad(i, "name", "%q is listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.Profile == "" {
			s.Profile = s.Name
		}
		switch s.Protocol {
		case ProtocolACME:
			if s.Client == "" {
				s.Client = ClientLego
			}
			if s.Client != ClientLego && s.Client != ClientCertbot {
				bad(i, "client", "%q is not an ACME client this registry writes recipes for (lego, certbot)", s.Client)
			}
		case ProtocolEST:
			if s.Client == "" {
				s.Client = ClientEstclient
			}
			if s.Client != ClientEstclient {
				bad(i, "client", "%q is not an EST client this registry writes recipes for (estclient)", s.Client)
			}
		default:
			bad(i, "protocol", "%q is not acme or est", s.Protocol)
		}
		if p, ok := profiles.Get(s.Profile); !ok {
			bad(i, "profile", "no profile template %q (known: %s)", s.Profile, strings.Join(profiles.Names(), ", "))
		} else if s.Protocol != "" && !p.AllowsProtocol(s.Protocol) {
			bad(i, "profile", "profile %s is not open to %s (only %s)", p.Name, s.Protocol, strings.Join(p.Protocols, ", "))
		}
		if len(s.Endpoints) == 0 {
			bad(i, "endpoints", "none: list the host:port addresses to probe")
		}
		for j, ep := range s.Endpoints {
			host, port, err := net.SplitHostPort(ep.Address)
			if err != nil || host == "" || port == "" {
				bad(i, fmt.Sprintf("endpoints[%d].address", j), "%q is not host:port", ep.Address)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Registry{Services: doc.Services}, nil
}
