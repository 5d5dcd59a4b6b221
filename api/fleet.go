package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/fleet"
)

// Service is one service of the registry with its endpoints and what the
// last discovery found at each.
type Service struct {
	Name         string     `json:"name"`
	Profile      string     `json:"profile"`
	Protocol     string     `json:"protocol"`
	Client       string     `json:"client"`
	Endpoints    []Endpoint `json:"endpoints"`
	Covered      *bool      `json:"covered,omitempty"` // absent before the first discovery
	Action       string     `json:"action,omitempty"`
	DiscoveredAt *time.Time `json:"discovered_at,omitempty"`
}

// Endpoint is one address of a service and its last finding.
type Endpoint struct {
	Address string                `json:"address"`
	SNI     string                `json:"sni,omitempty"`
	Finding *fleet.EndpointReport `json:"finding,omitempty"`
}

func (s *Server) fleetRoutes(add addFunc) {
	add("GET", "/fleet/services", auth.FleetRead, s.listServices)
	add("GET", "/fleet/services/{name}", auth.FleetRead, s.getService)
	add("POST", "/fleet/discoveries", auth.FleetDiscover, s.discover)
	add("POST", "/fleet/services/{name}/reissue", auth.FleetReissue, s.requestReissue)
}

var errNoRegistry = problem(http.StatusNotFound, ProbNotFound, "this server has no service registry (fleet.services)")

func (s *Server) registry() (*fleet.Registry, error) {
	if s.cfg.Fleet == nil || s.cfg.Fleet.Registry() == nil {
		return nil, errNoRegistry
	}
	return s.cfg.Fleet.Registry(), nil
}

func (s *Server) service(name string) (*fleet.Service, error) {
	reg, err := s.registry()
	if err != nil {
		return nil, err
	}
	svc, ok := reg.Get(name)
	if !ok {
		return nil, problem(http.StatusNotFound, ProbNotFound, fmt.Sprintf("no service %q in the registry (known: %s)", name, strings.Join(reg.Names(), ", ")))
	}
	return svc, nil
}

func serviceView(svc *fleet.Service, last *fleet.Report) Service {
	v := Service{Name: svc.Name, Profile: svc.Profile, Protocol: svc.Protocol, Client: svc.Client, Endpoints: []Endpoint{}}
	var found *fleet.ServiceReport
	if last != nil {
		for i := range last.Services {
			if last.Services[i].Name == svc.Name {
				found = &last.Services[i]
			}
		}
	}
	if found != nil {
		covered, at := found.Covered, last.Time.UTC()
		v.Covered, v.Action, v.DiscoveredAt = &covered, found.Action, &at
	}
	for _, ep := range svc.Endpoints {
		e := Endpoint{Address: ep.Address, SNI: ep.SNI}
		if found != nil {
			for i := range found.Endpoints {
				if found.Endpoints[i].Address == ep.Address {
					e.Finding = &found.Endpoints[i]
				}
			}
		}
		v.Endpoints = append(v.Endpoints, e)
	}
	return v
}

// listServices: GET /fleet/services[?profile=&protocol=&covered=]
func (s *Server) listServices(c *call) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	covered := q.Get("covered")
	if covered != "" && covered != "true" && covered != "false" {
		return badQuery("covered %q: want true or false", covered)
	}
	last := s.cfg.Fleet.Last()
	var items []Service
	for i := range reg.Services {
		v := serviceView(&reg.Services[i], last)
		if p := q.Get("profile"); p != "" && v.Profile != p {
			continue
		}
		if p := q.Get("protocol"); p != "" && v.Protocol != p {
			continue
		}
		if covered != "" && (v.Covered == nil || fmt.Sprint(*v.Covered) != covered) {
			continue
		}
		if !s.seesService(c, v.Profile) {
			continue
		}
		items = append(items, v)
	}
	return pageSlice(c, "services", items)
}

// getService: GET /fleet/services/{name}
func (s *Server) getService(c *call) error {
	svc, err := s.service(c.r.PathValue("name"))
	if err != nil {
		return err
	}
	if !s.seesService(c, svc.Profile) {
		return problem(http.StatusNotFound, ProbNotFound, fmt.Sprintf("no service %q in the registry", svc.Name))
	}
	return c.reply(http.StatusOK, serviceView(svc, s.cfg.Fleet.Last()))
}

// discover: POST /fleet/discoveries runs a discovery now and answers its
// report.
func (s *Server) discover(c *call) error {
	if _, err := s.registry(); err != nil {
		return err
	}
	return c.reply(http.StatusOK, s.cfg.Fleet.Discover(c.r.Context()))
}

// requestReissue: POST /fleet/services/{name}/reissue (dual control)
func (s *Server) requestReissue(c *call) error {
	svc, err := s.service(c.r.PathValue("name"))
	if err != nil {
		return err
	}
	var req ReissueRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Reason == "" {
		req.Reason = "superseded"
	}
	if _, err := parseReason(req.Reason); err != nil {
		return err
	}
	params := struct {
		Service string `json:"service"`
		Reason  string `json:"reason"`
	}{svc.Name, req.Reason}
	return s.request(c, ActFleetReissue, params, "service "+svc.Name+", "+req.Reason)
}
