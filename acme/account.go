package acme

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/vcc/vccpki/store"
)

// accountJSON is the account object (RFC 8555 §7.1.2).
type accountJSON struct {
	Status                 store.Status    `json:"status"`
	Contact                []string        `json:"contact,omitempty"`
	Orders                 string          `json:"orders"`
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding,omitempty"`
}

func (s *Server) accountReply(q *request, a *store.ACMEAccount, status int) *reply {
	url := q.accountURLOf(a.ID)
	return &reply{status: status, location: url, body: accountJSON{Status: a.Status, Contact: a.Contact, Orders: url + "/orders"}}
}

type newAccountPayload struct {
	Contact                []string        `json:"contact"`
	TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed"`
	OnlyReturnExisting     bool            `json:"onlyReturnExisting"`
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding"`
}

// newAccount creates an account or finds the one of the signing key
// (RFC 8555 §7.3, §7.3.1).
func (s *Server) newAccount(ctx context.Context, q *request) (*reply, error) {
	var in newAccountPayload
	if p := q.decode(&in); p != nil {
		return nil, p
	}
	existing, err := s.store.AccountByKey(ctx, q.key.thumbprint)
	switch {
	case err == nil:
		if store.OrgOf(existing.Org) != orgOf(ctx) {
			return nil, unauthorized("the account of this key belongs to another organisation's directory")
		}
		if existing.Status != store.StatusValid {
			return nil, unauthorized("the account of this key is %s", existing.Status)
		}
		return s.accountReply(q, &existing, http.StatusOK), nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	case in.OnlyReturnExisting:
		return nil, newProblem(probAccountDoesNotExist, http.StatusBadRequest, "no account exists for this key")
	}
	if p := checkContacts(in.Contact); p != nil {
		return nil, p
	}
	if s.cfg.TermsOfService != "" && !in.TermsOfServiceAgreed {
		return nil, malformed("agree to the terms of service (%s) with termsOfServiceAgreed", s.cfg.TermsOfService)
	}
	// Only a request that would create an account draws from the limit:
	// finding an existing one is free.
	if p := take(s.limits.accounts, q.r, "new accounts"); p != nil {
		return nil, p
	}
	a := store.ACMEAccount{ID: newID[store.AccountID](), Thumbprint: q.key.thumbprint, JWK: q.key.raw, Status: store.StatusValid, Contact: in.Contact, CreatedAt: s.cfg.Now().UTC(),
		Org: orgOf(ctx)}
	if len(in.ExternalAccountBinding) > 0 && string(in.ExternalAccountBinding) != "null" {
		k, p := s.checkEAB(ctx, q, in.ExternalAccountBinding)
		if p != nil {
			return nil, p
		}
		a.EABKeyID, a.Service = k.KeyID, k.Service
	} else if s.cfg.ExternalAccountRequired {
		return nil, newProblem(probExternalAccountReq, http.StatusUnauthorized, "this server requires an external account binding: ask the operator for a key (vccpki eab create)")
	}
	ev := store.AuditEvent{Time: a.CreatedAt, Actor: "acme:" + q.accountURLOf(a.ID), Action: "acme.account.create", Object: string(a.ID), Result: "ok", Org: a.Org}
	if a.EABKeyID != "" {
		ev.Result = "ok: bound by EAB key " + a.EABKeyID + " to service " + orNone(a.Service)
	}
	err = s.store.CreateAccount(ctx, a, ev)
	if errors.Is(err, store.ErrConflict) {
		if existing, err2 := s.store.AccountByKey(ctx, q.key.thumbprint); err2 == nil {
			return s.accountReply(q, &existing, http.StatusOK), nil // the same key raced itself
		}
		return nil, unauthorized("the external account key %s is already bound to another account", a.EABKeyID)
	}
	if err != nil {
		return nil, err
	}
	return s.accountReply(q, &a, http.StatusCreated), nil
}

func orNone(s string) string {
	if s == "" {
		return "(any)"
	}
	return s
}

// checkContacts accepts mailto: contacts with one plain address (RFC 8555
// §7.3: the server may restrict schemes; unsupportedContact, invalidContact).
func checkContacts(contacts []string) *problem {
	if len(contacts) > 10 {
		return newProblem(probInvalidContact, http.StatusBadRequest, "at most 10 contacts")
	}
	for _, c := range contacts {
		addr, ok := strings.CutPrefix(c, "mailto:")
		if !ok {
			return newProblem(probUnsupportedContact, http.StatusBadRequest, "contact %q: only mailto: contacts are supported", c)
		}
		if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr || strings.ContainsAny(addr, "?,") {
			return newProblem(probInvalidContact, http.StatusBadRequest, "contact %q is not a single email address", c)
		}
	}
	return nil
}

// checkEAB verifies an external account binding (RFC 8555 §7.3.4): a JWS
// MACed with the key the operator handed out, over the account's key, for
// the newAccount URL.
func (s *Server) checkEAB(ctx context.Context, q *request, raw json.RawMessage) (*store.EABKey, *problem) {
	inner, p := parseJWS(raw)
	if p != nil {
		p.Detail = "externalAccountBinding: " + p.Detail
		return nil, p
	}
	h := inner.header
	switch {
	case h.Alg != "HS256" && h.Alg != "HS384" && h.Alg != "HS512":
		return nil, badAlgorithm("externalAccountBinding: algorithm %q is not a MAC algorithm (HS256, HS384, HS512)", h.Alg)
	case h.Nonce != "":
		return nil, malformed("externalAccountBinding: the inner JWS must not carry a nonce")
	case h.URL != q.url:
		return nil, unauthorized("externalAccountBinding: url %q is not the newAccount URL", h.URL)
	case h.KID == "":
		return nil, malformed("externalAccountBinding: kid is missing")
	}
	bound, p := parseJWK(inner.payload)
	if p != nil || bound.thumbprint != q.key.thumbprint {
		return nil, unauthorized("externalAccountBinding: the payload is not the account's key")
	}
	k, err := s.store.EABKey(ctx, h.KID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unauthorized("externalAccountBinding: unknown key id %q", h.KID)
	}
	if err != nil {
		return nil, s.internal("EAB key", err)
	}
	mac, plain, err := s.secrets.Open(k.KeyID, k.HMAC)
	if err != nil {
		return nil, s.internal("EAB key", err)
	}
	if plain {
		s.log.Warn("acme: an EAB key is stored in plain text (made before keys were sealed); replace it with vccpki eab create", "kid", k.KeyID)
	}
	if !inner.verifyMAC(mac) {
		return nil, unauthorized("externalAccountBinding: the MAC does not verify with key %q", h.KID)
	}
	if k.AccountID != "" {
		return nil, unauthorized("externalAccountBinding: key %q is already bound to an account", h.KID)
	}
	if store.OrgOf(k.Org) != orgOf(ctx) {
		return nil, unauthorized("externalAccountBinding: key %q belongs to another organisation; use its directory", h.KID)
	}
	return &k, nil
}

type accountUpdate struct {
	Contact *[]string    `json:"contact"`
	Status  store.Status `json:"status"`
}

// account reads, updates or deactivates the account (RFC 8555 §7.3.2,
// §7.3.6).
func (s *Server) account(ctx context.Context, q *request) (*reply, error) {
	if store.AccountID(q.r.PathValue("id")) != q.account.ID {
		return nil, unauthorized("the request is signed by another account")
	}
	a := *q.account
	if q.postAsGet() {
		return s.accountReply(q, &a, http.StatusOK), nil
	}
	var in accountUpdate
	if p := q.decode(&in); p != nil {
		return nil, p
	}
	action := "acme.account.update"
	switch in.Status {
	case "", store.StatusValid:
	case store.StatusDeactivated:
		a.Status, action = store.StatusDeactivated, "acme.account.deactivate"
	default:
		return nil, malformed("status may only be set to \"deactivated\"")
	}
	if in.Contact != nil {
		if p := checkContacts(*in.Contact); p != nil {
			return nil, p
		}
		a.Contact = *in.Contact
	}
	ev := store.AuditEvent{Time: s.cfg.Now().UTC(), Actor: "acme:" + q.accountURL(), Action: action, Object: string(a.ID), Result: "ok"}
	if err := s.store.UpdateAccount(ctx, a, store.StatusValid, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, unauthorized("the account changed meanwhile; retry")
		}
		return nil, err
	}
	return s.accountReply(q, &a, http.StatusOK), nil
}

// keyChange rolls the account over to a new key (RFC 8555 §7.3.5).
func (s *Server) keyChange(ctx context.Context, q *request) (*reply, error) {
	inner, p := parseJWS(q.payload)
	if p != nil {
		p.Detail = "keyChange inner JWS: " + p.Detail
		return nil, p
	}
	if p := checkAlg(inner.header.Alg); p != nil {
		return nil, p
	}
	if inner.header.URL != q.url {
		return nil, malformed("keyChange: the inner JWS url must equal the outer one")
	}
	if len(inner.header.JWK) == 0 || inner.header.KID != "" {
		return nil, malformed("keyChange: the inner JWS must carry the new key as \"jwk\"")
	}
	newKey, p := parseJWK(inner.header.JWK)
	if p != nil {
		return nil, p
	}
	if p := inner.verify(newKey); p != nil {
		p.Detail = "keyChange inner JWS: " + p.Detail
		return nil, p
	}
	var in struct {
		Account string          `json:"account"`
		OldKey  json.RawMessage `json:"oldKey"`
	}
	if err := json.Unmarshal(inner.payload, &in); err != nil {
		return nil, malformed("keyChange: the inner payload is not {account, oldKey}")
	}
	if in.Account != q.accountURL() {
		return nil, unauthorized("keyChange: the inner payload names another account")
	}
	old, p := parseJWK(in.OldKey)
	if p != nil || old.thumbprint != q.account.Thumbprint {
		return nil, unauthorized("keyChange: oldKey is not the account's current key")
	}
	if other, err := s.store.AccountByKey(ctx, newKey.thumbprint); err == nil {
		p := malformed("keyChange: the new key belongs to another account")
		p.Status, p.location = http.StatusConflict, q.accountURLOf(other.ID)
		return nil, p
	}
	a := *q.account
	a.Thumbprint, a.JWK = newKey.thumbprint, newKey.raw
	ev := store.AuditEvent{Time: s.cfg.Now().UTC(), Actor: "acme:" + q.accountURL(), Action: "acme.account.key-change", Object: string(a.ID), Result: "ok: new key " + newKey.thumbprint}
	if err := s.store.UpdateAccount(ctx, a, store.StatusValid, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			p := malformed("keyChange: the new key belongs to another account")
			p.Status = http.StatusConflict
			return nil, p
		}
		return nil, err
	}
	return s.accountReply(q, &a, http.StatusOK), nil
}

// orders lists the account's orders (RFC 8555 §7.1.2.1), 100 a page with
// a rel="next" Link to the rest.
func (s *Server) orders(ctx context.Context, q *request) (*reply, error) {
	if store.AccountID(q.r.PathValue("id")) != q.account.ID {
		return nil, unauthorized("the request is signed by another account")
	}
	const page = 100
	ids, err := s.store.OrderIDs(ctx, q.account.ID, store.OrderID(q.r.URL.Query().Get("cursor")), page)
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(ids))
	for i, id := range ids {
		urls[i] = q.orderURL(id)
	}
	rep := &reply{body: map[string][]string{"orders": urls}}
	if len(ids) == page {
		rep.links = append(rep.links, link(q.accountURL()+"/orders?cursor="+string(ids[page-1]), "next"))
	}
	return rep, nil
}
