package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// The acts of dual control: each request handler checks its input and
// stores a pending approval; each exec runs it once approved.

// RevokeAllRequest revokes every valid certificate of one issuing CA or
// one profile.
type RevokeAllRequest struct {
	Issuer  string `json:"issuer,omitempty"`
	Profile string `json:"profile,omitempty"`
	Reason  string `json:"reason"`
}

func (s *Server) checkRevokeAll(ctx context.Context, req RevokeAllRequest) (string, error) {
	if _, err := ca.ParseReason(req.Reason); err != nil {
		return "", err
	}
	if (req.Issuer == "") == (req.Profile == "") {
		return "", problem(http.StatusBadRequest, ProbMalformed, "name exactly one of issuer and profile")
	}
	if req.Issuer != "" {
		// Any generation's key: after a rollover, services_2 names the
		// second (ca.GenerationIssuer).
		issuers, err := ca.IssuerKeys(ctx, s.cfg.Store)
		if err != nil {
			return "", err
		}
		if !slices.Contains(issuers, req.Issuer) {
			return "", problem(http.StatusBadRequest, ProbMalformed, fmt.Sprintf("%q is not an issuing CA or the key of one (%s)", req.Issuer, strings.Join(issuers, ", ")))
		}
		return "issuer " + req.Issuer, nil
	}
	if _, ok := s.cfg.Engine.Profiles().Get(req.Profile); !ok {
		return "", problem(http.StatusBadRequest, ProbUnknownProfile, fmt.Sprintf("no profile %q", req.Profile))
	}
	return "profile " + req.Profile, nil
}

// requestRevokeAll: POST /certificates/revoke-all (dual control)
func (s *Server) requestRevokeAll(c *call) error {
	var req RevokeAllRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	what, err := s.checkRevokeAll(c.r.Context(), req)
	if err != nil {
		return err
	}
	return s.request(c, ActRevokeAll, req, what+", "+req.Reason)
}

func (s *Server) revokeAll(ctx context.Context, c *call, f store.CertFilter, reasonName, what string, requestedBy string) (string, error) {
	reason, err := ca.ParseReason(reasonName)
	if err != nil {
		return what, err
	}
	f.ValidAt = s.cfg.Now()
	by := ca.Requester{Protocol: ca.ProtocolOperator, Subject: fmt.Sprintf("api %s approving %s (%s)", c.actor(), requestedBy, what)}
	n, err := s.cfg.Engine.RevokeAll(ctx, f, reason, by, false, func(store.Certificate) {})
	return fmt.Sprintf("%s: %d certificates revoked (%s)", what, n, reason), err
}

func (s *Server) execRevokeAll(ctx context.Context, c *call, a store.Approval) (string, error) {
	var req RevokeAllRequest
	if err := json.Unmarshal(a.Params, &req); err != nil {
		return "", err
	}
	what, err := s.checkRevokeAll(ctx, req)
	if err != nil {
		return "", err
	}
	return s.revokeAll(ctx, c, store.CertFilter{Issuer: req.Issuer, Profile: req.Profile}, req.Reason, what, a.RequestedBy)
}

// ReissueRequest revokes every valid certificate of a service so that its
// clients renew (ARI says renew now, OCSP says revoked).
type ReissueRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) execFleetReissue(ctx context.Context, c *call, a store.Approval) (string, error) {
	var p struct {
		Service string `json:"service"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal(a.Params, &p); err != nil {
		return "", err
	}
	svc, err := s.service(p.Service)
	if err != nil {
		return "", err
	}
	return s.revokeAll(ctx, c, store.CertFilter{Profile: svc.Profile}, p.Reason, "service "+svc.Name, a.RequestedBy)
}

// DeleteCredentialsRequest withdraws every EAB key and EST user of a service.
type DeleteCredentialsRequest struct {
	Service string `json:"service"`
}

// requestDeleteCredentials: POST /credentials/delete-all (dual control)
func (s *Server) requestDeleteCredentials(c *call) error {
	var req DeleteCredentialsRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Service == "" {
		return problem(http.StatusBadRequest, ProbMalformed, "service: the profile whose credentials are withdrawn is required")
	}
	if _, ok := s.cfg.Engine.Profiles().Get(req.Service); !ok {
		return problem(http.StatusBadRequest, ProbUnknownProfile, fmt.Sprintf("no profile %q", req.Service))
	}
	return s.request(c, ActCredentialsDelete, req, "service "+req.Service)
}

func (s *Server) execCredentialsDelete(ctx context.Context, c *call, a store.Approval) (string, error) {
	var req DeleteCredentialsRequest
	if err := json.Unmarshal(a.Params, &req); err != nil {
		return "", err
	}
	keys, err := s.cfg.Store.EABKeys(ctx)
	if err != nil {
		return "", err
	}
	users, err := s.cfg.Store.ESTUsers(ctx)
	if err != nil {
		return "", err
	}
	nk, nu := 0, 0
	var errs []error
	for _, k := range keys {
		if k.Service != req.Service {
			continue
		}
		if _, err := s.cfg.Store.RevokeEABKey(ctx, k.KeyID, s.event(c, "acme.eab.revoke", k.KeyID, "ok: bulk deletion of service "+req.Service)); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		nk++
	}
	for _, u := range users {
		if u.Service != req.Service {
			continue
		}
		if err := s.cfg.Store.RemoveESTUser(ctx, u.User, s.event(c, "est.user.remove", u.User, "ok: bulk deletion of service "+req.Service)); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		nu++
	}
	return fmt.Sprintf("service %s: %d EAB keys and %d EST users withdrawn", req.Service, nk, nu), errors.Join(errs...)
}

func (s *Server) event(c *call, action, object, result string) store.AuditEvent {
	ev := store.AuditEvent{Time: s.cfg.Now().UTC(), Actor: c.actor(), Action: action, Object: object, Result: result}
	if c != nil && c.principal != nil {
		ev.Org = c.principal.Org
	}
	return ev
}

func parseReason(s string) (ca.RevocationReason, error) { return ca.ParseReason(s) }
