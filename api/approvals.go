package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/store"
)

// Dual control: an act that hurts many (revoking every certificate of an
// issuer or profile, reissuing a service, deleting a service's
// credentials) is not done when asked. It is stored as a pending approval
// (202 and its Location); a different caller holding approval:decide
// (pki_admin) executes it with POST /approvals/{id} within the approval
// TTL. Both steps are audited.

// Actions of dual control.
const (
	ActRevokeAll         = "certificates.revoke-all"
	ActFleetReissue      = "fleet.reissue"
	ActCredentialsDelete = "credentials.delete-all"
)

// Approval is a request of dual control as the API shows it.
type Approval struct {
	ID          string          `json:"id"`
	Action      string          `json:"action"`
	Params      json.RawMessage `json:"params"`
	RequestedBy string          `json:"requested_by"`
	RequestedAt time.Time       `json:"requested_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	Status      string          `json:"status"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   *time.Time      `json:"decided_at,omitempty"`
	Result      string          `json:"result,omitempty"`
}

func approvalView(a store.Approval) Approval {
	v := Approval{ID: a.ID, Action: a.Action, Params: a.Params, RequestedBy: a.RequestedBy, RequestedAt: a.RequestedAt.UTC(),
		ExpiresAt: a.ExpiresAt.UTC(), Status: a.Status, DecidedBy: a.DecidedBy, Result: a.Result}
	if !a.DecidedAt.IsZero() {
		t := a.DecidedAt.UTC()
		v.DecidedAt = &t
	}
	return v
}

func (s *Server) approvalRoutes(add addFunc) {
	add("GET", "/approvals", auth.ApprovalRead, s.listApprovals)
	add("GET", "/approvals/{id}", auth.ApprovalRead, s.getApproval)
	add("POST", "/approvals/{id}", auth.ApprovalDecide, s.decideApproval)
	add("POST", "/approvals/{id}/deny", auth.ApprovalDecide, s.denyApproval)
}

// request stores a pending approval of act with params and answers 202.
func (s *Server) request(c *call, act string, params any, what string) error {
	if sc := c.scope(); sc != "" { // acts on many are the operator's
		return problem(http.StatusForbidden, ProbForbidden, "dual-control acts are the operator's; your organisation is "+sc)
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	now := s.cfg.Now().UTC()
	a := store.Approval{ID: "apr-" + hex.EncodeToString(id), Action: act, Params: raw, RequestedBy: c.actor(), RequesterID: c.identity(),
		RequestedAt: now, ExpiresAt: now.Add(s.cfg.ApprovalTTL), Status: store.ApprovalPending}
	ev := store.AuditEvent{Time: now, Actor: c.actor(), Action: "approval.request", Object: a.ID,
		Result: fmt.Sprintf("pending: %s (%s) until %s", act, what, a.ExpiresAt.Format(time.RFC3339))}
	if err := s.cfg.Store.CreateApproval(c.r.Context(), a, ev); err != nil {
		return err
	}
	c.w.Header().Set("Location", Prefix+"/approvals/"+a.ID)
	return c.reply(http.StatusAccepted, approvalView(a))
}

// listApprovals: GET /approvals?status=
func (s *Server) listApprovals(c *call) error {
	limit, err := c.limit()
	if err != nil {
		return err
	}
	cur, _, err := c.cursor("approvals")
	if err != nil {
		return err
	}
	status := c.r.URL.Query().Get("status")
	statuses := []string{store.ApprovalPending, store.ApprovalApproved, store.ApprovalExecuted, store.ApprovalFailed, store.ApprovalExpired, store.ApprovalDenied}
	if status != "" && !containsString(statuses, status) {
		return badQuery("status %q: want one of %v", status, statuses)
	}
	recs, err := s.cfg.Store.Approvals(c.r.Context(), store.ApprovalFilter{Status: status, After: cur.Key, Limit: limit + 1})
	if err != nil {
		return err
	}
	page := Page[Approval]{Items: []Approval{}}
	for i, a := range recs {
		if i == limit {
			page.Next = encodeCursor(cursor{Kind: "approvals", Key: recs[i-1].ID})
			break
		}
		page.Items = append(page.Items, approvalView(a))
	}
	return c.reply(http.StatusOK, page)
}

func (s *Server) approval(c *call) (store.Approval, error) {
	a, err := s.cfg.Store.Approval(c.r.Context(), c.r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return a, problem(http.StatusNotFound, ProbNotFound, "no approval "+c.r.PathValue("id"))
	}
	return a, err
}

// getApproval: GET /approvals/{id}
func (s *Server) getApproval(c *call) error {
	a, err := s.approval(c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, approvalView(a))
}

// decideApproval: POST /approvals/{id} approves and executes a pending
// request: by another caller than its requester, before it expires.
func (s *Server) decideApproval(c *call) error {
	a, err := s.approval(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	now := s.cfg.Now().UTC()
	switch {
	case a.Status != store.ApprovalPending:
		return problem(http.StatusConflict, ProbConflict, fmt.Sprintf("approval %s is %s, not pending", a.ID, a.Status))
	case !now.Before(a.ExpiresAt):
		exp := a
		exp.Status, exp.DecidedBy, exp.DecidedAt, exp.Result = store.ApprovalExpired, c.actor(), now, "expired before approval"
		ev := store.AuditEvent{Time: now, Actor: c.actor(), Action: "approval.expire", Object: a.ID,
			Result: "refused: expired at " + a.ExpiresAt.Format(time.RFC3339)}
		if err := s.cfg.Store.UpdateApproval(ctx, exp, store.ApprovalPending, ev); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		return problem(http.StatusGone, ProbExpired, fmt.Sprintf("approval %s expired at %s; ask again", a.ID, a.ExpiresAt.Format(time.RFC3339)))
	case a.RequesterID == c.identity():
		return problem(http.StatusForbidden, ProbForbidden, "you requested this act: another administrator must approve it (dual control)")
	}
	run, ok := s.acts()[a.Action]
	if !ok {
		return fmt.Errorf("approval %s: unknown action %q", a.ID, a.Action)
	}
	claim := a
	claim.Status, claim.DecidedBy, claim.DecidedAt = store.ApprovalApproved, c.actor(), now
	ev := store.AuditEvent{Time: now, Actor: c.actor(), Action: "approval.approve", Object: a.ID,
		Result: "ok: " + a.Action + " requested by " + a.RequestedBy}
	if err := s.cfg.Store.UpdateApproval(ctx, claim, store.ApprovalPending, ev); errors.Is(err, store.ErrConflict) {
		return problem(http.StatusConflict, ProbConflict, fmt.Sprintf("approval %s was decided meanwhile", a.ID))
	} else if err != nil {
		return err
	}
	result, runErr := run(context.WithoutCancel(ctx), c, a)
	done := claim
	done.Status, done.Result = store.ApprovalExecuted, "ok: "+result
	if runErr != nil {
		done.Status, done.Result = store.ApprovalFailed, "failed: "+result+": "+runErr.Error()
	}
	ev = store.AuditEvent{Time: s.cfg.Now().UTC(), Actor: c.actor(), Action: "approval.execute", Object: a.ID, Result: done.Result}
	if err := s.cfg.Store.UpdateApproval(context.WithoutCancel(ctx), done, store.ApprovalApproved, ev); err != nil {
		return err
	}
	return c.reply(http.StatusOK, approvalView(done))
}

// denyApproval: POST /approvals/{id}/deny refuses a pending request; the
// act is never done. Unlike approval, the requester may deny (withdraw)
// their own request: refusing needs no second pair of eyes.
func (s *Server) denyApproval(c *call) error {
	a, err := s.approval(c)
	if err != nil {
		return err
	}
	if a.Status != store.ApprovalPending {
		return problem(http.StatusConflict, ProbConflict, fmt.Sprintf("approval %s is %s, not pending", a.ID, a.Status))
	}
	now := s.cfg.Now().UTC()
	denied := a
	denied.Status, denied.DecidedBy, denied.DecidedAt, denied.Result = store.ApprovalDenied, c.actor(), now, "denied by "+c.actor()
	if a.RequesterID == c.identity() {
		denied.Result = "withdrawn by its requester " + c.actor()
	}
	ev := store.AuditEvent{Time: now, Actor: c.actor(), Action: "approval.deny", Object: a.ID,
		Result: "ok: " + a.Action + " requested by " + a.RequestedBy + " will not run (" + denied.Result + ")"}
	if err := s.cfg.Store.UpdateApproval(c.r.Context(), denied, store.ApprovalPending, ev); errors.Is(err, store.ErrConflict) {
		return problem(http.StatusConflict, ProbConflict, fmt.Sprintf("approval %s was decided meanwhile", a.ID))
	} else if err != nil {
		return err
	}
	return c.reply(http.StatusOK, approvalView(denied))
}

// identity is the caller's stable identity: how they authenticate, who
// vouches for them and their subject, whatever their display name.
func (c *call) identity() string {
	return c.principal.Method + " " + c.principal.Issuer + " " + c.principal.Subject
}

// act executes an approved request; it returns what it did.
type act func(ctx context.Context, c *call, a store.Approval) (string, error)

func (s *Server) acts() map[string]act {
	return map[string]act{
		ActRevokeAll:         s.execRevokeAll,
		ActFleetReissue:      s.execFleetReissue,
		ActCredentialsDelete: s.execCredentialsDelete,
		ActCACreate:          s.execCACreate,
		ActCARevoke:          s.execCARevoke,
		ActCARollover:        s.execCARollover,
	}
}
