package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/store"
)

// The credentials services enrol with: ACME external account binding keys
// and EST Basic users. A secret is shown once, in the 201 response that
// creates it; listings never carry one.

// EABKey is an EAB key as listed (no HMAC).
type EABKey struct {
	KID     string    `json:"kid"`
	Service string    `json:"service"`
	Created time.Time `json:"created"`
	Account string    `json:"account,omitempty"` // the account it bound
}

// NewEABKey is the 201 answer: the only time the HMAC key is shown.
type NewEABKey struct {
	KID     string `json:"kid"`
	HMAC    string `json:"hmac"` // base64url, as ACME clients take it
	Service string `json:"service"`
}

// ESTUser is an EST Basic user as listed (no password, no hash).
type ESTUser struct {
	User    string    `json:"user"`
	Service string    `json:"service"`
	Created time.Time `json:"created"`
}

// NewESTUser is the 201 answer: the only time the password is shown.
type NewESTUser struct {
	User     string `json:"user"`
	Service  string `json:"service"`
	Password string `json:"password"`
}

func (s *Server) credentialRoutes(add addFunc) {
	add("GET", "/credentials/eab", auth.CredentialRead, s.listEAB)
	add("POST", "/credentials/eab", auth.CredentialCreate, s.createEAB)
	add("DELETE", "/credentials/eab/{kid}", auth.CredentialRevoke, s.revokeEAB)
	add("GET", "/credentials/est-users", auth.CredentialRead, s.listESTUsers)
	add("POST", "/credentials/est-users", auth.CredentialCreate, s.createESTUser)
	add("DELETE", "/credentials/est-users/{user}", auth.CredentialRevoke, s.removeESTUser)
	add("POST", "/credentials/delete-all", auth.CredentialRevoke, s.requestDeleteCredentials)
}

// listEAB: GET /credentials/eab[?service=]
func (s *Server) listEAB(c *call) error {
	keys, err := s.cfg.Store.EABKeys(c.r.Context())
	if err != nil {
		return err
	}
	svc := c.r.URL.Query().Get("service")
	var items []EABKey
	for _, k := range keys {
		if (svc == "" || k.Service == svc) && c.principal.Sees(k.Org) {
			items = append(items, EABKey{KID: k.KeyID, Service: k.Service, Created: k.CreatedAt.UTC(), Account: string(k.AccountID)})
		}
	}
	return pageSlice(c, "eab", items)
}

// createEAB: POST /credentials/eab {"service"}
func (s *Server) createEAB(c *call) error {
	var req struct {
		Service string `json:"service"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	p, ok := s.cfg.Engine.Profiles().Get(req.Service)
	if !ok || !p.AllowsProtocol(profile.ProtocolACME) {
		return problem(http.StatusBadRequest, ProbUnknownProfile, fmt.Sprintf("no profile %q open to ACME", req.Service))
	}
	if !c.seesProfile(p) {
		return problem(http.StatusForbidden, ProbForbidden, fmt.Sprintf("profile %s belongs to another organisation", p.Name))
	}
	kid, hmac, err := acme.CreateEABKey(c.r.Context(), s.cfg.Store, p.Organisation, p.Name, c.actor(), s.cfg.Now())
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", Prefix+"/credentials/eab/"+kid)
	return c.reply(http.StatusCreated, NewEABKey{KID: kid, HMAC: hmac, Service: p.Name})
}

// revokeEAB: DELETE /credentials/eab/{kid}; an account it bound is revoked.
func (s *Server) revokeEAB(c *call) error {
	kid := c.r.PathValue("kid")
	if k, err := s.cfg.Store.EABKey(c.r.Context(), kid); err == nil && !c.principal.Sees(k.Org) {
		return problem(http.StatusNotFound, ProbNotFound, "no EAB key "+kid) // another organisation's: unchanged
	}
	_, err := s.cfg.Store.RevokeEABKey(c.r.Context(), kid, s.event(c, "acme.eab.revoke", kid, "ok"))
	if errors.Is(err, store.ErrNotFound) {
		return problem(http.StatusNotFound, ProbNotFound, "no EAB key "+kid)
	}
	if err != nil {
		return err
	}
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listESTUsers: GET /credentials/est-users[?service=]
func (s *Server) listESTUsers(c *call) error {
	users, err := s.cfg.Store.ESTUsers(c.r.Context())
	if err != nil {
		return err
	}
	svc := c.r.URL.Query().Get("service")
	var items []ESTUser
	for _, u := range users {
		if (svc == "" || u.Service == svc) && c.principal.Sees(u.Org) {
			items = append(items, ESTUser{User: u.User, Service: u.Service, Created: u.CreatedAt.UTC()})
		}
	}
	return pageSlice(c, "est-users", items)
}

// createESTUser: POST /credentials/est-users {"service", "user"}; the
// password is generated.
func (s *Server) createESTUser(c *call) error {
	var req struct {
		Service string `json:"service"`
		User    string `json:"user"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := est.CheckUserName(req.User); err != nil {
		return problem(http.StatusBadRequest, ProbMalformed, err.Error())
	}
	p, ok := s.cfg.Engine.Profiles().Get(req.Service)
	switch {
	case !ok:
		return problem(http.StatusBadRequest, ProbUnknownProfile, fmt.Sprintf("no profile %q", req.Service))
	case !p.AllowsProtocol(profile.ProtocolEST) || !p.EST.Allows(profile.ESTAuthBasic):
		return problem(http.StatusBadRequest, ProbRejected, fmt.Sprintf("profile %s does not take EST basic credentials", p.Name))
	}
	if !c.seesProfile(p) {
		return problem(http.StatusForbidden, ProbForbidden, fmt.Sprintf("profile %s belongs to another organisation", p.Name))
	}
	password, err := est.GeneratePassword()
	if err != nil {
		return err
	}
	err = est.AddUser(c.r.Context(), s.cfg.Store, p.Organisation, p.Name, req.User, password, c.actor(), s.cfg.Now())
	if errors.Is(err, store.ErrConflict) {
		return problem(http.StatusConflict, ProbConflict, fmt.Sprintf("EST user %q exists", req.User))
	}
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", Prefix+"/credentials/est-users/"+req.User)
	return c.reply(http.StatusCreated, NewESTUser{User: req.User, Service: p.Name, Password: password})
}

// removeESTUser: DELETE /credentials/est-users/{user}
func (s *Server) removeESTUser(c *call) error {
	user := c.r.PathValue("user")
	if u, err := s.cfg.Store.ESTUser(c.r.Context(), user); err == nil && !c.principal.Sees(u.Org) {
		return problem(http.StatusNotFound, ProbNotFound, "no EST user "+user) // another organisation's: unchanged
	}
	err := s.cfg.Store.RemoveESTUser(c.r.Context(), user, s.event(c, "est.user.remove", user, "ok"))
	if errors.Is(err, store.ErrNotFound) {
		return problem(http.StatusNotFound, ProbNotFound, "no EST user "+user)
	}
	if err != nil {
		return err
	}
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
