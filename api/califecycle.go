package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/internal/conf"
	"github.com/vcc/vccpki/store"
)

// Creating and revoking issuing CAs (docs/ca-lifecycle.md) is dual
// control: the request is checked and stored (202); a second pki_admin
// approves it and the engine acts, checking it again.

const (
	ActCACreate   = "ca.create"
	ActCARevoke   = "ca.revoke"
	ActCARollover = "ca.rollover"
)

// CreateCARequest is the body of POST /cas.
type CreateCARequest struct {
	Name         string   `json:"name"`
	Parent       string   `json:"parent"`
	Key          string   `json:"key,omitempty"`
	CommonName   string   `json:"common_name,omitempty"`
	PathLen      int      `json:"path_len,omitempty"`
	Validity     string   `json:"validity,omitempty"` // 5y, 1825d, 43800h
	PermittedDNS []string `json:"permitted_dns,omitempty"`
	ExcludedDNS  []string `json:"excluded_dns,omitempty"`
	PermittedIP  []string `json:"permitted_ip,omitempty"` // CIDR
	ExcludedIP   []string `json:"excluded_ip,omitempty"`
	Organisation string   `json:"organisation,omitempty"` // owner; "" the operator
}

// CARevokeRequest is the body of POST /cas/{name}/revoke.
type CARevokeRequest struct {
	Reason string `json:"reason"`
	Force  bool   `json:"force,omitempty"`
}

// CARolloverRequest is the body of POST /cas/{name}/rollover.
type CARolloverRequest struct {
	Key string `json:"key,omitempty"` // the new key's type; "" the current key's
}

func (s *Server) caLifecycleRoutes(add addFunc) {
	add("POST", "/cas", auth.CACreate, s.requestCACreate)
	add("POST", "/cas/{name}/revoke", auth.CARevoke, s.requestCARevoke)
	add("POST", "/cas/{name}/rollover", auth.CARollover, s.requestCARollover)
}

func (r CreateCARequest) engine() (ca.CreateCARequest, error) {
	out := ca.CreateCARequest{Name: r.Name, Parent: r.Parent, CommonName: r.CommonName, KeyType: keys.Type(r.Key), PathLen: r.PathLen,
		PermittedDNS: r.PermittedDNS, ExcludedDNS: r.ExcludedDNS, Organisation: r.Organisation}
	var err error
	if r.Validity != "" {
		if out.Validity, err = conf.ParseDuration(r.Validity); err != nil {
			return out, problem(http.StatusBadRequest, ProbMalformed, "validity: "+err.Error())
		}
	}
	if out.PermittedIP, err = ca.ParseCIDRs(r.PermittedIP); err != nil {
		return out, err
	}
	if out.ExcludedIP, err = ca.ParseCIDRs(r.ExcludedIP); err != nil {
		return out, err
	}
	return out, nil
}

// requestCACreate: POST /cas (dual control)
func (s *Server) requestCACreate(c *call) error {
	var req CreateCARequest
	if err := c.decode(&req); err != nil {
		return err
	}
	er, err := req.engine()
	if err != nil {
		return err
	}
	if err := s.cfg.Engine.CheckCreateCA(c.r.Context(), er); err != nil {
		return err
	}
	return s.request(c, ActCACreate, req, fmt.Sprintf("CA %s below %s", req.Name, req.Parent))
}

func (s *Server) execCACreate(ctx context.Context, c *call, a store.Approval) (string, error) {
	var req CreateCARequest
	if err := json.Unmarshal(a.Params, &req); err != nil {
		return "", err
	}
	what := fmt.Sprintf("CA %s below %s", req.Name, req.Parent)
	er, err := req.engine()
	if err != nil {
		return what, err
	}
	cert, err := s.cfg.Engine.CreateCA(ctx, er, fmt.Sprintf("api %s approving %s", c.actor(), a.RequestedBy))
	if err != nil {
		return what, err
	}
	return fmt.Sprintf("%s created (serial %s)", what, ca.FormatSerial(cert.SerialNumber)), nil
}

func (s *Server) caRevokeRequest(name string, req CARevokeRequest) (ca.RevokeCARequest, error) {
	r, err := ca.ParseCAReason(req.Reason)
	return ca.RevokeCARequest{Name: name, Reason: r, Force: req.Force}, err
}

// requestCARevoke: POST /cas/{name}/revoke (dual control)
func (s *Server) requestCARevoke(c *call) error {
	var req CARevokeRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	name := c.r.PathValue("name")
	er, err := s.caRevokeRequest(name, req)
	if err != nil {
		return err
	}
	if err := s.cfg.Engine.CheckRevokeCA(er); err != nil {
		return err
	}
	params := struct {
		Name string `json:"name"`
		CARevokeRequest
	}{name, req}
	return s.request(c, ActCARevoke, params, "CA "+name+", "+req.Reason)
}

func (s *Server) execCARevoke(ctx context.Context, c *call, a store.Approval) (string, error) {
	var p struct {
		Name string `json:"name"`
		CARevokeRequest
	}
	if err := json.Unmarshal(a.Params, &p); err != nil {
		return "", err
	}
	what := "CA " + p.Name
	er, err := s.caRevokeRequest(p.Name, p.CARevokeRequest)
	if err != nil {
		return what, err
	}
	if err := s.cfg.Engine.RevokeCA(ctx, er, fmt.Sprintf("api %s approving %s", c.actor(), a.RequestedBy)); err != nil {
		return what, err
	}
	certs, err := s.cfg.Engine.CertificatesUnder(ctx, p.Name)
	if err != nil {
		return what + " revoked", err
	}
	return fmt.Sprintf("%s revoked (%s); %d valid certificates under it must be renewed under another CA", what, er.Reason, len(certs)), nil
}

// caRolloverParams are the stored parameters of a rollover's approval.
type caRolloverParams struct {
	Name string `json:"name"`
	CARolloverRequest
}

func (p caRolloverParams) engine() ca.RolloverCARequest {
	return ca.RolloverCARequest{Name: p.Name, KeyType: keys.Type(p.Key)}
}

// requestCARollover: POST /cas/{name}/rollover (dual control)
func (s *Server) requestCARollover(c *call) error {
	var req CARolloverRequest
	if c.r.ContentLength != 0 { // the body is optional
		if err := c.decode(&req); err != nil {
			return err
		}
	}
	p := caRolloverParams{c.r.PathValue("name"), req}
	if err := s.cfg.Engine.CheckRolloverCA(p.engine()); err != nil {
		return err
	}
	what := "CA " + p.Name
	if p.Key != "" {
		what += ", new key " + p.Key
	}
	return s.request(c, ActCARollover, p, what)
}

func (s *Server) execCARollover(ctx context.Context, c *call, a store.Approval) (string, error) {
	var p caRolloverParams
	if err := json.Unmarshal(a.Params, &p); err != nil {
		return "", err
	}
	what := "CA " + p.Name
	cert, err := s.cfg.Engine.RolloverCA(ctx, p.engine(), fmt.Sprintf("api %s approving %s", c.actor(), a.RequestedBy))
	if err != nil {
		return what, err
	}
	return fmt.Sprintf("%s rolled over: new key, certificate serial %s, subject key identifier %x", what, ca.FormatSerial(cert.SerialNumber), cert.SubjectKeyId), nil
}
