package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/store"
)

// The unseal ceremony, server side. A CA created with vccpki init --shares
// starts sealed: the HTTP listener serves only /healthz (503 "sealed"),
// the HTTPS listener completes no handshake, and an admin socket in the
// data directory (mode 0600, so only the server's user reaches it) takes
// shares from vccpki unseal until enough open the key store. vccpki seal
// wipes the keys again; the server keeps running, sealed.

// adminSocketName is the Unix socket of the admin channel, in the data
// directory.
const adminSocketName = "admin.sock"

// maxAdminBody bounds an admin request: a share and an operator name.
const maxAdminBody = 4 << 10

// sealGate holds the sealed state of a running server.
type sealGate struct {
	a       *app
	vault   *keys.Vault
	early   *http.Server // the HTTP server started while sealed
	live    atomic.Pointer[http.Handler]
	opened  chan struct{} // closed at the first unseal
	ready   chan struct{} // closed when the unsealed front ends serve
	once    sync.Once
	mu      sync.Mutex // serialises share handling
	pending []shamir.Share
	admin   *http.Server
	sock    string
	addr    string // the HTTP listener's address
	// holders keep secrets of their own in memory (the ACME server's
	// secret box and nonce key): wiped at seal, reopened at unseal.
	holders []secretHolder
}

// secretHolder is a front end holding secrets opened through the key
// store, which it must drop when the key store is sealed.
type secretHolder interface {
	Wipe()
	Reopen(ctx context.Context) error
}

// holdSecrets registers h to be wiped at seal and reopened at unseal. A
// server without a gate is never sealed.
func (g *sealGate) holdSecrets(h secretHolder) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holders = append(g.holders, h)
}

// sharesKEK returns the stored KEK parameters when this CA's key store is
// split into shares, and nil otherwise.
func (a *app) sharesKEK(ctx context.Context) ([]byte, error) {
	rec, err := a.store.Key(ctx, keys.KEKRecordID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil || rec.Algorithm != keys.SharesAlgorithm {
		return nil, err
	}
	return rec.Sealed, nil
}

// startSealed starts serving sealed: /healthz on the HTTP listener and
// the admin socket. It returns nil when the key store is not split.
func (a *app) startSealed(ctx context.Context, httpLn net.Listener) (*sealGate, error) {
	params, err := a.sharesKEK(ctx)
	if err != nil || params == nil {
		return nil, err
	}
	if _, err := keys.ParseShares(params); err != nil {
		return nil, err
	}
	g := &sealGate{a: a, vault: keys.NewVault(a.store), opened: make(chan struct{}), ready: make(chan struct{}), sock: filepath.Join(a.cfg.data, adminSocketName), addr: httpLn.Addr().String()}
	ln, err := listenAdmin(g.sock)
	if err != nil {
		return nil, err
	}
	adminMux := http.NewServeMux()
	adminMux.HandleFunc("GET /v1/status", g.handleStatus)
	adminMux.HandleFunc("POST /v1/unseal", g.handleUnseal)
	adminMux.HandleFunc("POST /v1/seal", g.handleSeal)
	g.admin = &http.Server{Handler: adminMux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		ConnContext: withPeer}
	go func() { _ = g.admin.Serve(ln) }()
	g.early = newServer(logRequests(a.log, g), a.log, nil)
	go func() {
		if err := g.early.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("HTTP listener failed", "err", err)
		}
	}()
	return g, nil
}

// listenAdmin creates the admin socket with mode 0600. A socket left by a
// crashed server is replaced; one a running server answers on is not.
func listenAdmin(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another vccpki serve answers on %s: one server per data directory", path)
	}
	_ = os.Remove(path)
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// wait blocks until the first unseal; false when ctx ends first.
func (g *sealGate) wait(ctx context.Context) bool {
	select {
	case <-g.opened:
		return true
	case <-ctx.Done():
		return false
	}
}

// serveUnsealed hands the HTTP listener to the unsealed handler.
func (g *sealGate) serveUnsealed(h http.Handler) {
	g.live.Store(&h)
	close(g.ready)
}

// awaitReady waits, after the first unseal, until the front ends serve,
// so that vccpki unseal returns when the server really answers.
func (g *sealGate) awaitReady(ctx context.Context) bool {
	t := time.NewTimer(2 * time.Minute)
	defer t.Stop()
	select {
	case <-g.ready:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// ServeHTTP is the HTTP listener's handler: sealed replies until
// unsealed, and again after a seal.
func (g *sealGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.live.Load(); h != nil && !g.vault.Sealed() {
		(*h).ServeHTTP(w, r)
		return
	}
	sealedReply(w, r)
}

// wrap guards the HTTPS handler the same way.
func (g *sealGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.vault.Sealed() {
			sealedReply(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// getCertificate refuses TLS handshakes while sealed: the HTTPS key is in
// the sealed store.
func (g *sealGate) getCertificate(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if g.vault.Sealed() {
			return nil, errors.New("vccpki is sealed")
		}
		return get(hello)
	}
}

func sealedReply(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Retry-After", "30")
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.URL.Path == "/healthz" {
		io.WriteString(w, "sealed\n")
		return
	}
	io.WriteString(w, "vccpki is sealed: key holders must run 'vccpki unseal'\n")
}

// close stops the admin socket and the early HTTP server.
func (g *sealGate) close(ctx context.Context) {
	_ = g.admin.Shutdown(ctx)
	_ = g.early.Shutdown(ctx)
	_ = os.Remove(g.sock)
	g.mu.Lock()
	g.wipePending()
	g.mu.Unlock()
}

func (g *sealGate) wipePending() {
	for _, s := range g.pending {
		s.Wipe()
	}
	g.pending = nil
}

// sealStatus is the admin channel's answer.
type sealStatus struct {
	Sealed    bool   `json:"sealed"`
	Given     int    `json:"given"`
	Threshold int    `json:"threshold"`
	Shares    int    `json:"shares"`
	Message   string `json:"message,omitempty"`
	Error     string `json:"error,omitempty"`
}

type adminRequest struct {
	Operator string `json:"operator"`
	Share    string `json:"share,omitempty"`
	Reset    bool   `json:"reset,omitempty"`
}

func (g *sealGate) status(info keys.SharesInfo) sealStatus {
	return sealStatus{Sealed: g.vault.Sealed(), Given: len(g.pending), Threshold: info.Threshold, Shares: info.Shares}
}

func (g *sealGate) info(ctx context.Context) (keys.SharesInfo, []byte, error) {
	// Read each time: vccpki rekey may have re-split since the start.
	params, err := g.a.sharesKEK(ctx)
	if err != nil || params == nil {
		return keys.SharesInfo{}, nil, fmt.Errorf("reading the key store's share parameters: %v", err)
	}
	info, err := keys.ParseShares(params)
	return info, params, err
}

func reply(w http.ResponseWriter, code int, st sealStatus) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

func readAdmin(w http.ResponseWriter, r *http.Request) (adminRequest, error) {
	var req adminRequest
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

func (g *sealGate) audit(ctx context.Context, who, action, result string) {
	if err := g.a.store.AppendAudit(context.WithoutCancel(ctx), store.AuditEvent{Actor: who, Action: action, Object: "key store", Result: result}); err != nil {
		g.a.log.Error("audit", "action", action, "err", err)
	}
}

func (g *sealGate) handleStatus(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	info, _, err := g.info(r.Context())
	if err != nil {
		reply(w, http.StatusInternalServerError, sealStatus{Error: err.Error()})
		return
	}
	reply(w, http.StatusOK, g.status(info))
}

// handleUnseal takes one share. Every attempt is audited, never the share.
func (g *sealGate) handleUnseal(w http.ResponseWriter, r *http.Request) {
	req, err := readAdmin(w, r)
	who := actor(r, req.Operator)
	if err != nil {
		g.audit(r.Context(), who, "unseal.share", "refused: unreadable request")
		reply(w, http.StatusBadRequest, sealStatus{Sealed: g.vault.Sealed(), Error: "unreadable request"})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	info, params, err := g.info(r.Context())
	if err != nil {
		reply(w, http.StatusInternalServerError, sealStatus{Sealed: true, Error: err.Error()})
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
			g.a.log.Error("unsealed, but a front end could not reopen its secrets; it answers 503", "err", err)
			result += "; a front end did not reopen its secrets: " + err.Error()
		}
	}
	g.audit(r.Context(), who, "unseal", result)
	g.a.log.Info("unsealed: the CA keys are open", "by", who)
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

func (g *sealGate) handleSeal(w http.ResponseWriter, r *http.Request) {
	req, err := readAdmin(w, r)
	who := actor(r, req.Operator)
	if err != nil {
		g.audit(r.Context(), who, "seal", "refused: unreadable request")
		reply(w, http.StatusBadRequest, sealStatus{Error: "unreadable request"})
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
	g.a.log.Warn("sealed: the KEK, the CA keys and the ACME secrets were dropped from memory; only /healthz is served until vccpki unseal", "by", who)
	info, _, _ := g.info(r.Context())
	st := g.status(info)
	st.Message = "sealed"
	reply(w, http.StatusOK, st)
}

// earlyServer is the HTTP server started while sealed, nil without a gate.
func (g *sealGate) earlyServer() *http.Server {
	if g == nil {
		return nil
	}
	return g.early
}

// waitUnsealed prints the sealed banner and waits for the first unseal,
// then opens the engine on the Vault. A nil engine with a nil error means
// the server was stopped while sealed.
func (a *app) waitUnsealed(ctx context.Context, g *sealGate, pub string, reg prometheus.Registerer, httpsLn net.Listener, out io.Writer) (*ca.Engine, error) {
	fmt.Fprintf(out, "vccpki is serving SEALED: only /healthz answers until key holders run 'vccpki unseal'\n  HTTPS:  https://%s (after unseal)\n  HTTP:   http://%s\n  admin socket: %s\n  root certificate: %s\n",
		httpsLn.Addr(), g.addr, g.sock, filepath.Join(a.cfg.data, "root.pem"))
	if err := a.audit(ctx, "serve.start", "server", "ok: sealed, waiting for unseal"); err != nil {
		return nil, err
	}
	if !g.wait(ctx) {
		a.log.Info("stopped while sealed")
		_ = a.audit(context.WithoutCancel(ctx), "serve.stop", "server", "ok: sealed")
		return nil, nil
	}
	cfg, err := a.caConfig(ctx, pub)
	if err != nil {
		return nil, err
	}
	return ca.Open(ctx, a.store, g.vault, a.profiles, cfg, ca.Options{Registerer: reg})
}
