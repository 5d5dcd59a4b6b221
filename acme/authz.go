package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vcc/vccpki/store"
)

// Challenge types (RFC 8555 §8.3, §8.4; RFC 8737).
const (
	challHTTP01    = "http-01"
	challDNS01     = "dns-01"
	challTLSALPN01 = "tls-alpn-01"
)

type authzData struct {
	Identifier identifier      `json:"identifier"`
	Wildcard   bool            `json:"wildcard,omitempty"`
	Challenges []challengeData `json:"challenges"`
}

type challengeData struct {
	Type      string       `json:"type"`
	Token     string       `json:"token"`
	Status    store.Status `json:"status"`
	Started   time.Time    `json:"started,omitzero"` // when the validation now "processing" began
	Validated time.Time    `json:"validated,omitzero"`
	Error     *problem     `json:"error,omitempty"`
}

// authzJSON is the authorization object (RFC 8555 §7.1.4).
type authzJSON struct {
	Identifier identifier      `json:"identifier"`
	Status     store.Status    `json:"status"`
	Expires    string          `json:"expires"`
	Challenges []challengeJSON `json:"challenges"`
	Wildcard   bool            `json:"wildcard,omitempty"`
}

type challengeJSON struct {
	Type      string       `json:"type"`
	URL       string       `json:"url"`
	Status    store.Status `json:"status"`
	Token     string       `json:"token"`
	Validated string       `json:"validated,omitempty"`
	Error     *problem     `json:"error,omitempty"`
}

type authz struct {
	store.ACMEAuthz
	data authzData
}

// newAuthz makes the authorization for one order identifier. A wildcard
// is authorized for its base name by dns-01 only (RFC 8555 §7.1.3, §8.4);
// an IP address by http-01 or tls-alpn-01, not dns-01 (RFC 8738 §7).
func newAuthz(id identifier, account store.AccountID, expires time.Time) store.ACMEAuthz {
	d := authzData{Identifier: id}
	types := []string{challHTTP01, challDNS01, challTLSALPN01}
	switch {
	case id.Type == "ip":
		types = []string{challHTTP01, challTLSALPN01}
	case strings.HasPrefix(id.Value, "*."):
		d.Identifier.Value, d.Wildcard = strings.TrimPrefix(id.Value, "*."), true
		types = []string{challDNS01}
	}
	for _, t := range types {
		d.Challenges = append(d.Challenges, challengeData{Type: t, Token: newToken(), Status: store.StatusPending})
	}
	data, _ := json.Marshal(d)
	return store.ACMEAuthz{ID: newID[store.AuthzID](), AccountID: account, Status: store.StatusPending, Identifier: id.String(), Expires: expires, Data: data}
}

func decodeAuthz(a store.ACMEAuthz) (*authz, error) {
	out := &authz{ACMEAuthz: a}
	if err := json.Unmarshal(a.Data, &out.data); err != nil {
		return nil, fmt.Errorf("authz %s: %w", a.ID, err)
	}
	return out, nil
}

// authzError is the error of an authorization's failed challenge, if any.
func authzError(a store.ACMEAuthz) *problem {
	d, err := decodeAuthz(a)
	if err != nil {
		return nil
	}
	for _, c := range d.data.Challenges {
		if c.Error != nil {
			return c.Error
		}
	}
	return nil
}

func (s *Server) loadAuthz(ctx context.Context, q *request, id store.AuthzID) (*authz, error) {
	a, err := s.store.Authz(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("authorization " + string(id))
	}
	if err != nil {
		return nil, err
	}
	if a.AccountID != q.account.ID {
		return nil, unauthorized("authorization %s belongs to another account", id)
	}
	if a.Status == store.StatusPending && !s.cfg.Now().Before(a.Expires) {
		a.Status = store.StatusExpired // shown, not stored: nothing can move it back
	}
	return decodeAuthz(a)
}

func (s *Server) authzJSON(q *request, a *authz) authzJSON {
	out := authzJSON{Identifier: a.data.Identifier, Status: a.Status, Expires: a.Expires.UTC().Format(time.RFC3339), Wildcard: a.data.Wildcard}
	for _, c := range a.data.Challenges {
		out.Challenges = append(out.Challenges, s.challengeJSON(q, a, c))
	}
	return out
}

func (s *Server) challengeJSON(q *request, a *authz, c challengeData) challengeJSON {
	out := challengeJSON{Type: c.Type, URL: q.challengeURL(a.ID, c.Type), Status: c.Status, Token: c.Token, Error: c.Error}
	if !c.Validated.IsZero() {
		out.Validated = c.Validated.UTC().Format(time.RFC3339)
	}
	return out
}

// authz returns or deactivates an authorization (RFC 8555 §7.5, §7.5.2).
func (s *Server) authz(ctx context.Context, q *request) (*reply, error) {
	a, err := s.loadAuthz(ctx, q, store.AuthzID(q.r.PathValue("id")))
	if err != nil {
		return nil, err
	}
	if !q.postAsGet() {
		var in struct {
			Status store.Status `json:"status"`
		}
		if p := q.decode(&in); p != nil {
			return nil, p
		}
		if in.Status != store.StatusDeactivated {
			return nil, malformed("an authorization's status may only be set to \"deactivated\"")
		}
		if a.Status != store.StatusPending && a.Status != store.StatusValid {
			return nil, malformed("the authorization is %s and cannot be deactivated", a.Status)
		}
		from := a.Status
		a.Status = store.StatusDeactivated
		if err := s.store.UpdateAuthz(ctx, a.ACMEAuthz, from); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil, malformed("the authorization changed meanwhile; retry")
			}
			return nil, err
		}
		s.refreshOrderOf(ctx, a.OrderID)
	}
	rep := &reply{body: s.authzJSON(q, a)}
	if a.Status == store.StatusPending && a.processing() {
		rep.retryAfter = "1"
	}
	return rep, nil
}

func (a *authz) processing() bool {
	for _, c := range a.data.Challenges {
		if c.Status == store.StatusProcessing {
			return true
		}
	}
	return false
}

// orphaned reports whether a "processing" challenge has outlived any
// validation: the instance running it stopped (a restart, a crash, or
// another instance of a scaled-out deployment went away). Such a
// challenge may be validated again.
func (s *Server) orphaned(c challengeData) bool {
	limit := s.cfg.Validator.Timeout*time.Duration(s.cfg.Validator.Attempts+1) + time.Minute
	return c.Status == store.StatusProcessing && s.cfg.Now().Sub(c.Started) > limit
}

// refreshOrderOf brings an authorization's order up to date after the
// authorization changed.
func (s *Server) refreshOrderOf(ctx context.Context, orderID store.OrderID) {
	if _, err := s.loadOrder(ctx, nil, orderID); err != nil {
		s.log.Warn("acme: refreshing order", "order", orderID, "err", err)
	}
}

// challenge starts validating a challenge and answers with its state
// (RFC 8555 §7.5.1). It waits up to ChallengeWait for the validation, so
// that a client usually gets the final status in the first answer;
// otherwise the answer says "processing" with Retry-After.
func (s *Server) challenge(ctx context.Context, q *request) (*reply, error) {
	a, err := s.loadAuthz(ctx, q, store.AuthzID(q.r.PathValue("authz")))
	if err != nil {
		return nil, err
	}
	typ := q.r.PathValue("type")
	idx := -1
	for i, c := range a.data.Challenges {
		if c.Type == typ {
			idx = i
		}
	}
	if idx < 0 {
		return nil, notFound("challenge " + typ + " of authorization " + string(a.ID))
	}
	// The payload is "{}" to start validation; POST-as-GET only reads.
	if !q.postAsGet() {
		var in map[string]any
		if p := q.decode(&in); p != nil {
			return nil, p
		}
		c := a.data.Challenges[idx]
		if a.Status == store.StatusPending && (c.Status == store.StatusPending && !a.processing() || s.orphaned(c)) {
			if a, err = s.startValidation(ctx, q, a, idx); err != nil {
				return nil, err
			}
		}
	}
	rep := &reply{body: s.challengeJSON(q, a, a.data.Challenges[idx]), links: []string{link(q.authzURL(a.ID), "up")}}
	if a.data.Challenges[idx].Status == store.StatusProcessing {
		rep.retryAfter = "1"
	}
	return rep, nil
}

// startValidation validates the challenge in the background and waits a
// bounded time for the result. Only a validation still running when the
// wait ends is recorded as "processing" (RFC 8555 §7.5.1): most finish
// first, and their one write is the final state.
func (s *Server) startValidation(ctx context.Context, q *request, a *authz, idx int) (*authz, error) {
	select {
	case <-s.closing:
		return nil, newProblem(probServerInternal, http.StatusServiceUnavailable, "the server is shutting down; retry")
	default:
	}
	// Besides the server-wide slots (vaSlots), one account may run only
	// so many validations at once, so that it cannot hold every slot.
	release, p := s.limits.startAccountValidation(a.AccountID)
	if p != nil {
		return nil, p
	}
	c := a.data.Challenges[idx]
	job := validation{authzID: a.ID, orderID: a.OrderID, idx: idx, typ: c.Type, token: c.Token,
		id: a.data.Identifier, wildcard: a.data.Wildcard, keyAuth: c.Token + "." + q.key.thumbprint, accountURL: q.accountURLOf(a.AccountID)}
	done := make(chan struct{})
	var final *authz // what validate stored, read after done
	s.validations.Add(1)
	go func() {
		defer s.validations.Done()
		defer release()
		defer close(done)
		final = s.validate(job)
	}()
	t := time.NewTimer(s.cfg.ChallengeWait)
	defer t.Stop()
	select {
	case <-done:
		if final != nil {
			return final, nil // as stored: no need to read it back
		}
	case <-t.C:
		s.markProcessing(context.WithoutCancel(ctx), a, idx)
	case <-ctx.Done():
	}
	return s.loadAuthz(context.WithoutCancel(ctx), q, a.ID)
}

// validation is what validate needs of a challenge, copied from the
// authorization the request read (the request goroutine may go on to
// change that one: markProcessing).
type validation struct {
	authzID             store.AuthzID
	orderID             store.OrderID
	idx                 int
	typ, token          string
	id                  identifier
	wildcard            bool
	keyAuth, accountURL string
}

// markProcessing records a running validation. If the validation
// finished meanwhile, its result is already stored and wins.
func (s *Server) markProcessing(ctx context.Context, a *authz, idx int) {
	a.data.Challenges[idx].Status, a.data.Challenges[idx].Started = store.StatusProcessing, s.cfg.Now().UTC()
	data, err := json.Marshal(a.data)
	if err != nil {
		return
	}
	a.Data = data
	if err := s.store.UpdateAuthz(ctx, a.ACMEAuthz, store.StatusPending); err != nil && !errors.Is(err, store.ErrConflict) {
		s.log.Warn("acme: marking a challenge processing", "authz", a.ID, "err", err)
	}
}

// validate runs one challenge validation and records its outcome on the
// challenge and the authorization (RFC 8555 §7.1.6). It returns the
// authorization as stored, or nil if it recorded nothing.
func (s *Server) validate(v validation) *authz {
	s.vaSlots <- struct{}{}
	defer func() { <-s.vaSlots }()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Validator.Timeout*time.Duration(s.cfg.Validator.Attempts+1))
	defer cancel()
	authzID, idx := v.authzID, v.idx
	p := s.va.validate(ctx, v.typ, v.id, v.token, v.keyAuth, s.redirectHostsOf(ctx, v.orderID))
	if p == nil && v.id.Type == "dns" {
		p = s.va.checkCAA(ctx, s.cfg.CAAIdentities, caaRequest{name: v.id.Value, wildcard: v.wildcard, accountURL: v.accountURL, method: v.typ})
		if p != nil {
			p.Identifier = &identifier{v.id.Type, v.id.Value}
		}
	}
	// Record the outcome on the authorization as it is now (a
	// "processing" mark may have been written meanwhile).
	stored, err := s.store.Authz(ctx, authzID)
	if err != nil {
		s.log.Error("acme: validation", "authz", authzID, "err", err)
		return nil
	}
	a, err := decodeAuthz(stored)
	if err != nil || a.Status != store.StatusPending || idx >= len(a.data.Challenges) {
		return nil
	}
	c := &a.data.Challenges[idx]
	if p != nil {
		c.Status, c.Error, a.Status = store.StatusInvalid, p, store.StatusInvalid
	} else {
		c.Status, c.Validated, a.Status = store.StatusValid, s.cfg.Now().UTC(), store.StatusValid
	}
	if a.Data, err = json.Marshal(a.data); err != nil {
		s.log.Error("acme: validation", "authz", authzID, "err", err)
		return nil
	}
	// Guarded: a deactivation meanwhile wins. The order follows when it
	// is next read (loadOrder), which spares a commit per validation.
	if err := s.store.UpdateAuthz(ctx, a.ACMEAuthz, store.StatusPending); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Error("acme: recording validation", "authz", authzID, "err", err)
		}
		return nil
	}
	return a
}
