package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/store"
)

// AuditEntry is one entry of the hash-chained audit log.
type AuditEntry struct {
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Object   string    `json:"object"`
	Result   string    `json:"result"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
	Org      string    `json:"org,omitempty"` // a partner organisation's entry; absent for the operator's
}

// AuditVerification is the result of walking the chain.
type AuditVerification struct {
	OK      bool   `json:"ok"`
	Entries int64  `json:"entries"` // entries checked
	Head    string `json:"head"`    // SEQ:HASH of the last good entry, to keep as an anchor
	Seq     int64  `json:"seq,omitempty"`
	Problem string `json:"problem,omitempty"`
}

func (s *Server) auditRoutes(add addFunc) {
	add("GET", "/audit", auth.AuditRead, s.queryAudit)
	add("GET", "/audit/verify", auth.AuditVerify, s.verifyAudit)
	add("GET", "/audit/export", auth.AuditRead, s.exportAudit)
}

func entryView(e store.AuditEntry) AuditEntry {
	return AuditEntry{Seq: e.Seq, Time: e.Time.UTC(), Actor: e.Actor, Action: e.Action, Object: e.Object, Result: e.Result,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash), Org: partnerOrg(e.Org)}
}

// auditFilter reads since, until, actor, action (exact) and object
// (contained): the store applies them in its query.
// A partner's caller reads only its organisation's entries.
func (c *call) auditFilter() (store.AuditFilter, error) {
	f, err := parseAuditFilter(c.r.URL.Query())
	if sc := c.scope(); sc != "" {
		f.Org = sc
	}
	return f, err
}

// partnerOrg is org, or "" for the operator's.
func partnerOrg(org string) string {
	if store.OrgOf(org) == store.OperatorOrg {
		return ""
	}
	return org
}

func parseAuditFilter(q url.Values) (store.AuditFilter, error) {
	var f store.AuditFilter
	for _, t := range []struct {
		name string
		at   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			var err error
			if *t.at, err = time.Parse(time.RFC3339, v); err != nil {
				return f, badQuery("%s %q: want an RFC 3339 time (2026-12-31T00:00:00Z)", t.name, v)
			}
		}
	}
	f.Actor, f.Action, f.Object = q.Get("actor"), q.Get("action"), q.Get("object")
	f.Org = q.Get("org")
	return f, nil
}

var errStop = errors.New("stop")

// queryAudit: GET /audit?since=&until=&actor=&action=&object=&limit=&cursor=
// in sequence order.
func (s *Server) queryAudit(c *call) error {
	f, err := c.auditFilter()
	if err != nil {
		return err
	}
	limit, err := c.limit()
	if err != nil {
		return err
	}
	cur, _, err := c.cursor("audit")
	if err != nil {
		return err
	}
	f.AfterSeq, f.Limit = cur.Offset, limit+1
	page := Page[AuditEntry]{Items: []AuditEntry{}}
	var last int64
	err = s.cfg.Store.AuditEntries(c.r.Context(), f, func(e store.AuditEntry) error {
		if len(page.Items) == limit {
			page.Next = encodeCursor(cursor{Kind: "audit", Offset: last})
			return errStop
		}
		page.Items = append(page.Items, entryView(e))
		last = e.Seq
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return c.reply(http.StatusOK, page)
}

// verifyAudit: GET /audit/verify[?anchor=SEQ:HASH]
func (s *Server) verifyAudit(c *call) error {
	var anchor store.AuditHead
	if a := c.r.URL.Query().Get("anchor"); a != "" {
		var err error
		if anchor, err = store.ParseAuditHead(a); err != nil {
			return problem(http.StatusBadRequest, ProbMalformed, err.Error())
		}
	}
	head, err := store.VerifyAuditAnchored(c.r.Context(), s.cfg.Store, anchor)
	v := AuditVerification{OK: err == nil, Entries: head.Seq, Head: head.String()}
	var p *store.AuditProblem
	switch {
	case errors.As(err, &p):
		v.Seq, v.Problem = p.Seq, p.Reason
	case err != nil:
		return err
	}
	return c.reply(http.StatusOK, v)
}

// exportAudit: GET /audit/export, the entries the filter selects as JSON
// Lines, streamed.
func (s *Server) exportAudit(c *call) error {
	f, err := c.auditFilter()
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/jsonl")
	c.status = http.StatusOK
	c.w.WriteHeader(http.StatusOK)
	err = exportAudit(c.r.Context(), s.cfg.Store, f, c.w)
	if err != nil {
		// The status is sent: the stream ends short, the log says why.
		s.cfg.Log.Error("api: audit export", "err", err)
	}
	return nil
}

// ExportAudit writes the entries q selects (since, until, actor, action,
// object, as GET /audit/export takes them) to w as JSON Lines: the export
// of the API and of the local vccpki audit export alike.
func ExportAudit(ctx context.Context, st store.Store, q url.Values, w io.Writer) error {
	f, err := parseAuditFilter(q)
	if err != nil {
		return err
	}
	return exportAudit(ctx, st, f, w)
}

func exportAudit(ctx context.Context, st store.Store, f store.AuditFilter, w io.Writer) error {
	enc := json.NewEncoder(w)
	return st.AuditEntries(ctx, f, func(e store.AuditEntry) error {
		return enc.Encode(entryView(e))
	})
}
