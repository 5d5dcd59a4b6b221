package seal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/backend"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/store"
)

// The admin socket's handlers. Every attempt is audited, never a share.

// Status is the admin channel's answer.
type Status struct {
	Sealed    bool   `json:"sealed"`
	Given     int    `json:"given"`
	Threshold int    `json:"threshold"`
	Shares    int    `json:"shares"`
	Message   string `json:"message,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Request is what the admin channel takes.
type Request struct {
	Operator string `json:"operator"`
	Share    string `json:"share,omitempty"`
	Reset    bool   `json:"reset,omitempty"`
}

func (g *Gate) status(info keys.SharesInfo) Status {
	return Status{Sealed: g.vault.Sealed(), Given: len(g.pending), Threshold: info.Threshold, Shares: info.Shares}
}

func (g *Gate) info(ctx context.Context) (keys.SharesInfo, []byte, error) {
	// Read each time: vccpki rekey may have re-split since the start.
	params, err := backend.SharesParams(ctx, g.store)
	if err != nil || params == nil {
		return keys.SharesInfo{}, nil, fmt.Errorf("reading the key store's share parameters: %v", err)
	}
	info, err := keys.ParseShares(params)
	return info, params, err
}

func reply(w http.ResponseWriter, code int, st Status) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

func readAdmin(w http.ResponseWriter, r *http.Request) (Request, error) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	return req, err
}

// actor names who sent an admin request: the name the command sent and
// the socket peer's uid, which the kernel vouches for.
func actor(r *http.Request, name string) string {
	name = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, name)
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" {
		name = "operator:unknown"
	}
	return name + " (" + peerOf(r.Context()) + ")"
}

func (g *Gate) audit(ctx context.Context, who, action, result string) {
	if err := g.store.AppendAudit(context.WithoutCancel(ctx), store.AuditEvent{Actor: who, Action: action, Object: "key store", Result: result}); err != nil {
		g.log.Error("audit", "action", action, "err", err)
	}
}

func (g *Gate) handleStatus(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	info, _, err := g.info(r.Context())
	if err != nil {
		reply(w, http.StatusInternalServerError, Status{Error: err.Error()})
		return
	}
	reply(w, http.StatusOK, g.status(info))
}

// handleUnseal takes one share. Every attempt is audited, never the share.
func (g *Gate) handleUnseal(w http.ResponseWriter, r *http.Request) {
	req, err := readAdmin(w, r)
	who := actor(r, req.Operator)
	if err != nil {
		g.audit(r.Context(), who, "unseal.share", "refused: unreadable request")
		reply(w, http.StatusBadRequest, Status{Sealed: g.vault.Sealed(), Error: "unreadable request"})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	info, params, err := g.info(r.Context())
	if err != nil {
		reply(w, http.StatusInternalServerError, Status{Sealed: true, Error: err.Error()})
		return
	}
	refuse := func(code int, msg string) {
		g.audit(r.Context(), who, "unseal.share", "refused: "+msg)
		st := g.status(info)
		st.Error = msg
		reply(w, code, st)
	}
	if req.Reset {
		n := len(g.pending)
		g.wipePending()
		g.audit(r.Context(), who, "unseal.reset", fmt.Sprintf("ok: %d shares given so far discarded", n))
		st := g.status(info)
		st.Message = fmt.Sprintf("discarded %d shares; the unseal starts over", n)
		reply(w, http.StatusOK, st)
		return
	}
	if !g.vault.Sealed() {
		refuse(http.StatusConflict, "the server is already unsealed")
		return
	}
	share, err := shamir.ParseShare(req.Share)
	if err != nil {
		refuse(http.StatusBadRequest, err.Error())
		return
	}
	if err := keys.CheckShare(info, g.pending, share); err != nil {
		refuse(http.StatusBadRequest, err.Error())
		return
	}
	g.pending = append(g.pending, share)
	if len(g.pending) < info.Threshold {
		msg := fmt.Sprintf("share accepted: %d of %d given; %d more needed", len(g.pending), info.Threshold, info.Threshold-len(g.pending))
		g.audit(r.Context(), who, "unseal.share", "accepted: "+fmt.Sprintf("%d of %d", len(g.pending), info.Threshold))
		st := g.status(info)
		st.Message = msg
		reply(w, http.StatusOK, st)
		return
	}
	kek, err := keys.OpenSharedKEK(params, g.pending)
	g.wipePending()
	if err != nil {
		g.audit(r.Context(), who, "unseal", "refused: "+err.Error())
		st := g.status(info)
		st.Error = err.Error() + "; the shares given were discarded: all holders must give theirs again"
		reply(w, http.StatusBadRequest, st)
		return
	}
	g.vault.Unseal(kek)
	result := fmt.Sprintf("ok: %d of %d shares", info.Threshold, info.Shares)
	for _, h := range g.holders { // none at the first unseal: the front ends start after it
		if err := h.Reopen(r.Context()); err != nil {
			g.log.Error("unsealed, but a front end could not reopen its secrets; it answers 503", "err", err)
			result += "; a front end did not reopen its secrets: " + err.Error()
		}
	}
	g.audit(r.Context(), who, "unseal", result)
	g.log.Info("unsealed: the CA keys are open", "by", who)
	g.once.Do(func() { close(g.opened) })
	st := g.status(info)
	st.Message = "unsealed"
	g.mu.Unlock()
	if !g.awaitReady(r.Context()) {
		st.Message = "unsealed; the server is still starting its front ends (see its log)"
	}
	g.mu.Lock() // for the deferred Unlock
	reply(w, http.StatusOK, st)
}

func (g *Gate) handleSeal(w http.ResponseWriter, r *http.Request) {
	req, err := readAdmin(w, r)
	who := actor(r, req.Operator)
	if err != nil {
		g.audit(r.Context(), who, "seal", "refused: unreadable request")
		reply(w, http.StatusBadRequest, Status{Error: "unreadable request"})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	was := !g.vault.Sealed()
	g.vault.Seal()
	for _, h := range g.holders {
		h.Wipe()
	}
	g.wipePending()
	// Say what was done, no more: Go lets us zero the keys' private
	// scalars and secret bytes, not every copy its crypto packages made.
	result := "ok: sealed; dropped from memory: the KEK and the opened CA keys (private scalars zeroed), " +
		"the ACME secret-box key and nonce key (bytes zeroed), shares given so far"
	if !was {
		result = "ok: was already sealed"
	}
	g.audit(r.Context(), who, "seal", result)
	g.log.Warn("sealed: the KEK, the CA keys and the ACME secrets were dropped from memory; only /healthz is served until vccpki unseal", "by", who)
	info, _, _ := g.info(r.Context())
	st := g.status(info)
	st.Message = "sealed"
	reply(w, http.StatusOK, st)
}
