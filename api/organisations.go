package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/org"
	"github.com/vcc/vccpki/store"
)

// Organisation is one tenant as the API and vccpki org list show it.
type Organisation struct {
	Name      string    `json:"name"`
	Display   string    `json:"display"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	CAs       []string  `json:"cas"` // the issuing CAs it owns
}

// OrganisationOf is the one view of a stored organisation.
func OrganisationOf(o store.Organisation) Organisation {
	cas := o.CAs
	if cas == nil {
		cas = []string{}
	}
	return Organisation{Name: o.Name, Display: o.Display, CreatedAt: o.CreatedAt.UTC(), CreatedBy: o.CreatedBy, CAs: cas}
}

func (s *Server) organisationRoutes(add addFunc) {
	add("GET", "/organisations", auth.OrgRead, s.listOrganisations)
	add("POST", "/organisations", auth.OrgCreate, s.createOrganisation)
	add("GET", "/organisations/{name}", auth.OrgRead, s.getOrganisation)
	add("POST", "/organisations/{name}/cas", auth.OrgAddCA, s.addOrganisationCA)
}

// listOrganisations: GET /organisations; a partner's people see only
// their own.
func (s *Server) listOrganisations(c *call) error {
	all, err := org.List(c.r.Context(), s.cfg.Store)
	if err != nil {
		return err
	}
	items := []Organisation{}
	for _, o := range all {
		if c.principal.Sees(o.Name) {
			items = append(items, OrganisationOf(o))
		}
	}
	return pageSlice(c, "organisations", items)
}

// getOrganisation: GET /organisations/{name}; another organisation is 404,
// as if it did not exist.
func (s *Server) getOrganisation(c *call) error {
	name := c.r.PathValue("name")
	o, err := org.Show(c.r.Context(), s.cfg.Store, name)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, org.ErrInvalid) || (err == nil && !c.principal.Sees(o.Name)) {
		return problem(http.StatusNotFound, ProbNotFound, "no organisation "+name)
	}
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, OrganisationOf(o))
}

// CreateOrganisationRequest is the body of POST /organisations.
type CreateOrganisationRequest struct {
	Name    string `json:"name"`
	Display string `json:"display"`
}

// createOrganisation: POST /organisations (the operator's pki_admin).
func (s *Server) createOrganisation(c *call) error {
	var req CreateOrganisationRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	o, err := org.Create(c.r.Context(), s.cfg.Store, req.Name, req.Display, c.actor(), s.cfg.Now())
	switch {
	case errors.Is(err, org.ErrInvalid):
		return problem(http.StatusBadRequest, ProbMalformed, err.Error())
	case errors.Is(err, store.ErrConflict):
		return problem(http.StatusConflict, ProbConflict, "organisation "+req.Name+" exists")
	case err != nil:
		return err
	}
	c.w.Header().Set("Location", Prefix+"/organisations/"+o.Name)
	return c.reply(http.StatusCreated, OrganisationOf(o))
}

// AddOrganisationCARequest is the body of POST /organisations/{name}/cas.
type AddOrganisationCARequest struct {
	CA string `json:"ca"`
}

// addOrganisationCA: POST /organisations/{name}/cas gives the organisation
// an issuing CA (vccpki org add-ca; the operator's pki_admin): its
// profiles may then name it. Giving it a CA it owns already changes
// nothing; a CA of another organisation is 409.
func (s *Server) addOrganisationCA(c *call) error {
	var req AddOrganisationCARequest
	if err := c.decode(&req); err != nil {
		return err
	}
	name := c.r.PathValue("name")
	err := org.AddCA(c.r.Context(), s.cfg.Store, name, req.CA, c.actor(), s.cfg.Now())
	switch {
	case errors.Is(err, org.ErrInvalid):
		return problem(http.StatusBadRequest, ProbMalformed, err.Error())
	case errors.Is(err, store.ErrNotFound):
		return problem(http.StatusNotFound, ProbNotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		return problem(http.StatusConflict, ProbConflict, err.Error())
	case err != nil:
		return err
	}
	o, err := org.Show(c.r.Context(), s.cfg.Store, name)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, OrganisationOf(o))
}
