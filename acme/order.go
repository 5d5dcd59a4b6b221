package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// identifier is an ACME identifier (RFC 8555 §9.7.7 "dns", RFC 8738 "ip").
type identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func (id identifier) String() string { return id.Type + ":" + id.Value }

// orderData is what the store keeps of an order beyond its columns.
type orderData struct {
	Identifiers []identifier    `json:"identifiers"`
	Authzs      []store.AuthzID `json:"authzs"`
	Profile     string          `json:"profile"`
	Serial      string          `json:"serial,omitempty"`
	Error       *problem        `json:"error,omitempty"`
	ReplacesID  string          `json:"replaces,omitempty"` // the RFC 9773 certificate ID as sent
	// Finalizing is when finalize moved the order to processing; an order
	// processing much longer was abandoned by an instance that stopped.
	Finalizing time.Time `json:"finalizing,omitzero"`
}

// abandonedAfter is how long an order may stay processing: issuance
// takes milliseconds, so one still processing after this was interrupted.
const abandonedAfter = 5 * time.Minute

// orderJSON is the order object (RFC 8555 §7.1.3).
type orderJSON struct {
	Status         store.Status `json:"status"`
	Expires        string       `json:"expires"`
	Identifiers    []identifier `json:"identifiers"`
	Profile        string       `json:"profile,omitempty"`
	Replaces       string       `json:"replaces,omitempty"`
	Authorizations []string     `json:"authorizations"`
	Finalize       string       `json:"finalize"`
	Certificate    string       `json:"certificate,omitempty"`
	Error          *problem     `json:"error,omitempty"`
}

type newOrderPayload struct {
	Identifiers []identifier `json:"identifiers"`
	NotBefore   string       `json:"notBefore"`
	NotAfter    string       `json:"notAfter"`
	Profile     string       `json:"profile"`
	Replaces    string       `json:"replaces"`
}

// order is an order loaded from the store with its data decoded.
type order struct {
	store.ACMEOrder
	data   orderData
	stored store.Status // the status in the store, which Status may be ahead of
}

func (s *Server) orderJSON(q *request, o *order) orderJSON {
	out := orderJSON{
		Status: o.Status, Expires: o.Expires.UTC().Format(time.RFC3339), Identifiers: o.data.Identifiers,
		Profile: o.data.Profile, Finalize: q.orderURL(o.ID) + "/finalize", Error: o.data.Error,
	}
	if o.Replaces != "" {
		out.Replaces = o.data.ReplacesID
	}
	for _, a := range o.data.Authzs {
		out.Authorizations = append(out.Authorizations, q.authzURL(a))
	}
	if o.data.Serial != "" {
		out.Certificate = q.abs(pathCert + o.data.Serial)
	}
	return out
}

// newOrder creates an order and its authorizations (RFC 8555 §7.4).
func (s *Server) newOrder(ctx context.Context, q *request) (*reply, error) {
	var in newOrderPayload
	if p := q.decode(&in); p != nil {
		return nil, p
	}
	if in.NotBefore != "" || in.NotAfter != "" {
		return nil, malformed("notBefore and notAfter are not supported: the profile sets the validity")
	}
	ids, p := normalizeIdentifiers(in.Identifiers)
	if p != nil {
		return nil, p
	}
	if p := take(s.limits.orders, q.r, "new orders"); p != nil {
		return nil, p
	}
	now := s.cfg.Now().UTC()
	if p := s.checkRateLimits(ctx, q.account.ID, len(ids), now); p != nil {
		return nil, p
	}
	prof, p := s.selectProfile(q.account, in.Profile, ids)
	if p != nil {
		return nil, p
	}
	o := store.ACMEOrder{ID: newID[store.OrderID](), AccountID: q.account.ID, Status: store.StatusPending, Expires: now.Add(s.cfg.OrderLifetime), CreatedAt: now}
	data := orderData{Identifiers: ids, Profile: prof.Name}
	if in.Replaces != "" {
		serial, p := s.checkReplaces(ctx, q, in.Replaces, ids)
		if p != nil {
			return nil, p
		}
		o.Replaces, data.ReplacesID = serial, in.Replaces
	}
	var authzs []store.ACMEAuthz
	for _, id := range ids {
		a := newAuthz(id, q.account.ID, now.Add(s.cfg.AuthzLifetime))
		authzs = append(authzs, a)
		data.Authzs = append(data.Authzs, a.ID)
	}
	if o.Data, p = marshalData(data); p != nil {
		return nil, p
	}
	err := s.store.CreateOrder(ctx, o, authzs)
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, newProblem(probAlreadyReplaced, http.StatusConflict, "certificate %s was already replaced by another order (RFC 9773 §5)", in.Replaces)
	case errors.Is(err, store.ErrNotFound):
		return nil, malformed("replaces: %s is not a certificate issued through ACME here", in.Replaces)
	case err != nil:
		return nil, err
	}
	ord := &order{ACMEOrder: o, data: data}
	return &reply{status: http.StatusCreated, location: q.orderURL(o.ID), body: s.orderJSON(q, ord)}, nil
}

func marshalData(v any) ([]byte, *problem) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, toProblem(err)
	}
	return b, nil
}

// normalizeIdentifiers checks identifier syntax and removes duplicates,
// keeping the client's order and spelling otherwise: clients compare the
// order's identifiers with what they asked for (RFC 8555 §7.4).
func normalizeIdentifiers(in []identifier) ([]identifier, *problem) {
	if len(in) == 0 {
		return nil, malformed("the order names no identifiers")
	}
	if len(in) > 100 {
		return nil, rejected("an order may name at most 100 identifiers")
	}
	var out []identifier
	seen := map[identifier]bool{}
	var sub []problem
	for _, id := range in {
		switch id.Type {
		case "dns":
			id.Value = strings.ToLower(id.Value)
			if err := checkDNSName(id.Value); err != nil {
				sub = append(sub, problem{Type: probRejectedIdentifier, Detail: err.Error(), Identifier: &identifier{id.Type, id.Value}})
				continue
			}
		case "ip":
			a, err := netip.ParseAddr(id.Value)
			if err != nil || a.Zone() != "" {
				sub = append(sub, problem{Type: probMalformed, Detail: fmt.Sprintf("%q is not an IP address", id.Value), Identifier: &identifier{id.Type, id.Value}})
				continue
			}
			id.Value = a.Unmap().String() // RFC 8738 §3: RFC 5952 text form for IPv6
		default:
			return nil, newProblem(probUnsupportedIdentifier, http.StatusBadRequest, "identifier type %q is not supported; use dns or ip", id.Type)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(sub) > 0 {
		p := rejected("%d identifier(s) are not acceptable", len(sub))
		if len(sub) == 1 {
			p.Type, p.Detail = sub[0].Type, sub[0].Detail
		}
		p.Subproblems = sub
		return nil, p
	}
	return out, nil
}

func rejected(format string, args ...any) *problem {
	return newProblem(probRejectedIdentifier, http.StatusBadRequest, format, args...)
}

// checkDNSName checks LDH syntax (RFC 1123 §2.1) with at most one leading
// wildcard label (RFC 8555 §7.1.3).
func checkDNSName(name string) error {
	base := strings.TrimPrefix(name, "*.")
	if len(name) > 253 || base == "" {
		return fmt.Errorf("%q is not a DNS name", name)
	}
	labels := strings.Split(base, ".")
	if len(labels) < 2 && base != "localhost" {
		return fmt.Errorf("%q is not a fully qualified DNS name", name)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%q is not a DNS name: bad label %q", name, l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not a DNS name: label %q has %q", name, l, c)
			}
		}
	}
	if _, err := netip.ParseAddr(base); err == nil {
		return fmt.Errorf("%q is an IP address: use an identifier of type ip (RFC 8738)", name)
	}
	return nil
}

func (s *Server) checkRateLimits(ctx context.Context, account store.AccountID, newAuthzs int, now time.Time) *problem {
	n, err := s.store.CountOrders(ctx, account, now.Add(-time.Hour))
	if err != nil {
		return s.internal("rate limit", err)
	}
	if n >= s.cfg.OrdersPerHour {
		p := newProblem(probRateLimited, http.StatusTooManyRequests, "this account created %d orders in the last hour; the limit is %d", n, s.cfg.OrdersPerHour)
		p.retryAfter = time.Minute
		return p
	}
	pending, err := s.store.CountPendingAuthzs(ctx, account, now)
	if err != nil {
		return s.internal("rate limit", err)
	}
	if pending+newAuthzs > s.cfg.MaxPendingAuthzs {
		p := newProblem(probRateLimited, http.StatusTooManyRequests, "this account has %d pending authorizations; the limit is %d: finish or deactivate some", pending, s.cfg.MaxPendingAuthzs)
		p.retryAfter = time.Minute
		return p
	}
	return nil
}

// selectProfile picks the profile of an order: the order's "profile"
// when given; else the service the account's external account key binds
// it to; else the first template (by name) open to ACME, needing no
// binding, whose patterns admit every identifier.
func (s *Server) selectProfile(a *store.ACMEAccount, name string, ids []identifier) (*profile.Profile, *problem) {
	if name == "" && a.Service != "" {
		name = a.Service
	}
	if name != "" {
		p, ok := s.profiles.Get(name)
		if !ok || !p.AllowsProtocol(profile.ProtocolACME) {
			return nil, newProblem(probInvalidProfile, http.StatusBadRequest, "no ACME profile %q; the directory's meta.profiles lists them", name)
		}
		if store.OrgOf(p.Organisation) != store.OrgOf(a.Org) {
			return nil, unauthorized("profile %s belongs to another organisation; this account may order only from its own directory's profiles", p.Name)
		}
		if a.Service != "" && a.Service != p.Name {
			return nil, unauthorized("this account is bound to service %s and may not order from profile %s", a.Service, p.Name)
		}
		if p.RequireBinding && a.Service != p.Name {
			return nil, unauthorized("profile %s is only for accounts bound to it by an external account key (vccpki eab create --service %s)", p.Name, p.Name)
		}
		if sub := admits(p, ids); len(sub) > 0 {
			pr := rejected("profile %s does not admit %s", p.Name, describe(sub))
			pr.Subproblems = sub
			return nil, pr
		}
		return p, nil
	}
	for _, p := range s.profiles.Of(store.OrgOf(a.Org)) {
		if p.AllowsProtocol(profile.ProtocolACME) && !p.RequireBinding && len(admits(p, ids)) == 0 {
			return p, nil
		}
	}
	return nil, rejected("no profile open to this account admits all of %v", ids)
}

// admits returns a subproblem per identifier p does not admit.
func admits(p *profile.Profile, ids []identifier) []problem {
	var sub []problem
	if len(ids) > p.MaxNames {
		return []problem{{Type: probRejectedIdentifier, Detail: fmt.Sprintf("profile %s allows %d names per certificate, not %d", p.Name, p.MaxNames, len(ids))}}
	}
	for _, id := range ids {
		var err error
		if id.Type == "ip" {
			err = p.CheckIP(netip.MustParseAddr(id.Value))
		} else {
			err = p.CheckDNSName(id.Value)
		}
		if err != nil {
			sub = append(sub, problem{Type: probRejectedIdentifier, Detail: err.Error(), Identifier: &identifier{id.Type, id.Value}})
		}
	}
	return sub
}

func describe(sub []problem) string {
	var s []string
	for _, p := range sub {
		if p.Identifier != nil {
			s = append(s, p.Identifier.Value)
		}
	}
	if len(s) == 0 && len(sub) > 0 {
		return sub[0].Detail
	}
	return strings.Join(s, ", ")
}

// loadOrder loads an order of the requesting account and brings its
// status up to date (RFC 8555 §7.1.6), in the store too.
func (s *Server) loadOrder(ctx context.Context, q *request, id store.OrderID) (*order, error) {
	return s.loadOrderAs(ctx, q, id, true)
}

// loadOrderAs is loadOrder; without persistReady, a pending order whose
// authorizations are all valid becomes ready in memory only (finalize
// writes its next state directly, saving a commit).
func (s *Server) loadOrderAs(ctx context.Context, q *request, id store.OrderID, persistReady bool) (*order, error) {
	o, err := s.store.Order(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("order " + string(id))
	}
	if err != nil {
		return nil, err
	}
	if q != nil && o.AccountID != q.account.ID {
		return nil, unauthorized("order %s belongs to another account", id)
	}
	ord := &order{ACMEOrder: o, stored: o.Status}
	if err := json.Unmarshal(o.Data, &ord.data); err != nil {
		return nil, fmt.Errorf("order %s: %w", id, err)
	}
	return ord, s.refreshOrder(ctx, ord, persistReady)
}

// refreshOrder moves a pending order to ready when all its authorizations
// are valid and to invalid when one failed; a pending or ready order past
// its expiry becomes invalid.
func (s *Server) refreshOrder(ctx context.Context, o *order, persistReady bool) error {
	abandoned := o.Status == store.StatusProcessing && s.cfg.Now().Sub(o.data.Finalizing) > abandonedAfter
	if o.Status != store.StatusPending && o.Status != store.StatusReady && !abandoned {
		return nil
	}
	from := o.Status
	next := from
	var why *problem
	if abandoned {
		next = store.StatusInvalid
		why = newProblem(probServerInternal, http.StatusInternalServerError, "issuance was interrupted; create a new order")
	} else if !s.cfg.Now().Before(o.Expires) {
		next, why = store.StatusInvalid, malformed("the order expired")
	} else {
		// A ready order is checked too: an authorization deactivated,
		// revoked or expired since makes it invalid (RFC 8555 §7.1.6), so
		// finalize never signs on an authorization no longer held.
		next = store.StatusReady
		for _, id := range o.data.Authzs {
			a, err := s.store.Authz(ctx, id)
			if err != nil {
				return err
			}
			switch {
			case a.Status == store.StatusValid && s.cfg.Now().Before(a.Expires):
			case a.Status == store.StatusPending && s.cfg.Now().Before(a.Expires):
				next = store.StatusPending
			default:
				next, why = store.StatusInvalid, unauthorized("authorization %s is %s", id, a.Status)
			}
			if next == store.StatusInvalid {
				if d := authzError(a); d != nil {
					why = d
				}
				break
			}
		}
	}
	if next == from {
		return nil
	}
	o.Status, o.data.Error = next, why
	var p *problem
	if o.Data, p = marshalData(o.data); p != nil {
		return p
	}
	if next == store.StatusReady && !persistReady {
		return nil
	}
	err := s.store.UpdateOrder(ctx, o.ACMEOrder, from)
	if errors.Is(err, store.ErrConflict) {
		// Another request moved it first: read what it wrote.
		fresh, err := s.store.Order(ctx, o.ID)
		if err != nil {
			return err
		}
		o.ACMEOrder, o.stored = fresh, fresh.Status
		return json.Unmarshal(fresh.Data, &o.data)
	}
	if err == nil {
		o.stored = next
	}
	return err
}

// order returns the order (POST-as-GET, RFC 8555 §7.4).
func (s *Server) order(ctx context.Context, q *request) (*reply, error) {
	o, err := s.loadOrder(ctx, q, store.OrderID(q.r.PathValue("id")))
	if err != nil {
		return nil, err
	}
	rep := &reply{body: s.orderJSON(q, o)}
	if o.Status == store.StatusProcessing {
		rep.retryAfter = "1"
	}
	return rep, nil
}

// finalize issues the certificate of a ready order (RFC 8555 §7.4).
func (s *Server) finalize(ctx context.Context, q *request) (*reply, error) {
	var in struct {
		CSR string `json:"csr"`
	}
	if p := q.decode(&in); p != nil {
		return nil, p
	}
	o, err := s.loadOrderAs(ctx, q, store.OrderID(q.r.PathValue("id")), false)
	if err != nil {
		return nil, err
	}
	if o.Status != store.StatusReady {
		return nil, newProblem(probOrderNotReady, http.StatusForbidden, "the order is %s, not ready", o.Status)
	}
	// Every check a client can correct runs before the order leaves
	// "ready": a bad CSR is answered and the client may send a better one
	// (RFC 8555 §7.4). Only a failure once signing began makes it invalid.
	der, err := b64.DecodeString(strings.TrimRight(in.CSR, "="))
	if err != nil {
		return nil, malformed("csr is not base64url DER (RFC 8555 §7.4)")
	}
	csr, err := ca.ParseCSR(der)
	if err != nil {
		return nil, toProblem(err)
	}
	if p := csrMatchesOrder(csrIdentifiers(csr.CertificateRequest), o.data.Identifiers); p != nil {
		return nil, p
	}
	if prof, ok := s.profiles.Get(o.data.Profile); ok {
		if err := prof.CheckKey(csr.PublicKey); err != nil {
			return nil, toProblem(err)
		}
	}
	o.Status, o.data.Finalizing = store.StatusProcessing, s.cfg.Now().UTC()
	if o.Data, err = json.Marshal(o.data); err != nil {
		return nil, err
	}
	// From the stored status: "ready", or "pending" when the order became
	// ready only in memory above. A replacement claims the certificate it
	// replaces here, in the same transaction (RFC 9773 §5).
	if err := s.store.UpdateOrder(ctx, o.ACMEOrder, o.stored); err != nil {
		if errors.Is(err, store.ErrAlreadyReplaced) {
			return nil, newProblem(probAlreadyReplaced, http.StatusConflict, "certificate %s was already replaced by another order (RFC 9773 §5)", o.data.ReplacesID)
		}
		if errors.Is(err, store.ErrConflict) {
			return nil, newProblem(probOrderNotReady, http.StatusForbidden, "the order is being finalized by another request")
		}
		return nil, err
	}
	validated := make([]ca.Identifier, len(o.data.Identifiers))
	for i, id := range o.data.Identifiers {
		validated[i] = ca.Identifier{Type: ca.IdentifierType(id.Type), Value: id.Value}
	}
	// The order is processing now: every way out must leave it valid or
	// invalid (RFC 8555 §7.1.6), even if the client goes away.
	ctx = context.WithoutCancel(ctx)
	// The order's completion (valid, its serial, the ACME certificate
	// record) commits in the certificate's own transaction: the
	// certificate is never stored without its order pointing at it, and
	// a commit is saved. The engine names the serial it signed.
	processing := o.data
	complete := func(serial string) (store.Along, error) {
		done := o.ACMEOrder
		d := processing
		done.Status, d.Serial = store.StatusValid, serial
		var err error
		if done.Data, err = json.Marshal(d); err != nil {
			return nil, err
		}
		return s.store.CompleteOrderAlong(done, store.StatusProcessing, store.ACMECertificate{Serial: serial, AccountID: o.AccountID, OrderID: o.ID}), nil
	}
	issued, err := s.engine.Issue(ctx, ca.IssueRequest{Profile: o.data.Profile, Checked: csr, Requester: q.requester(), Validated: validated, Along: complete})
	if err != nil {
		p := s.internal("issue", err)
		// A refusal is decided before the CA signs anything (ca.Engine.Issue):
		// the order goes back to ready for a corrected CSR. Any other
		// failure may have come after signing began: the order is invalid.
		o.Status, o.data.Error, o.data.Finalizing = store.StatusInvalid, p, time.Time{}
		if refused(err) {
			o.Status, o.data.Error = store.StatusReady, nil
		}
		if o.Data, err = json.Marshal(o.data); err == nil {
			err = s.store.UpdateOrder(ctx, o.ACMEOrder, store.StatusProcessing)
		}
		if err != nil {
			s.log.Error("acme: recording a failed finalize", "order", o.ID, "err", err)
		}
		return nil, p
	}
	o.Status, o.data.Serial = store.StatusValid, issued.Serial
	return &reply{location: q.orderURL(o.ID), body: s.orderJSON(q, o)}, nil
}

// refused reports whether the engine refused a request before signing (a
// classified client error), as opposed to failing while or after signing.
func refused(err error) bool {
	switch caerr.KindOf(err) {
	case caerr.Internal, caerr.Unavailable:
		return false
	}
	var ce *caerr.Error
	return errors.As(err, &ce)
}
