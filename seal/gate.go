// Package seal is the unseal ceremony of a running server whose key store
// is split into shares (vccpki init --shares). The server starts sealed:
// its HTTP listener serves only /healthz (503 "sealed"), its HTTPS
// listener completes no handshake, and an admin socket in the data
// directory (mode 0600, so only the server's user reaches it) takes shares
// from vccpki unseal until enough open the key store. vccpki seal wipes
// the keys again; the server keeps running, sealed. The client side of the
// socket is here too (client.go).
package seal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/backend"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/store"
)

// SocketName is the Unix socket of the admin channel, in the data
// directory.
const SocketName = "admin.sock"

// maxAdminBody bounds an admin request: a share and an operator name.
const maxAdminBody = 4 << 10

// Store is what the gate reads (the share parameters) and writes (the
// audit of every attempt).
type Store interface {
	keys.KeyLoader
	AppendAudit(ctx context.Context, ev store.AuditEvent) error
}

// Gate holds the sealed state of a running server.
type Gate struct {
	store   Store
	log     *slog.Logger
	vault   *keys.Vault
	live    atomic.Pointer[http.Handler]
	opened  chan struct{} // closed at the first unseal
	ready   chan struct{} // closed when the unsealed front ends serve
	once    sync.Once
	mu      sync.Mutex // serialises share handling
	pending []shamir.Share
	admin   *http.Server
	served  chan struct{} // closed when the admin socket's server returned
	sock    string
	// holders keep secrets of their own in memory (the ACME server's
	// secret box and nonce key): wiped at seal, reopened at unseal.
	holders []SecretHolder
}

// SecretHolder is a front end holding secrets opened through the key
// store, which it must drop when the key store is sealed.
type SecretHolder interface {
	Wipe()
	Reopen(ctx context.Context) error
}

// Start opens the admin socket in data when the key store of st is split
// into shares, and returns nil otherwise. The gate is the handler of the
// HTTP listener from then on (ServeHTTP).
func Start(ctx context.Context, st Store, data string, log *slog.Logger) (*Gate, error) {
	params, err := backend.SharesParams(ctx, st)
	if err != nil || params == nil {
		return nil, err
	}
	if _, err := keys.ParseShares(params); err != nil {
		return nil, err
	}
	g := &Gate{store: st, log: log, vault: keys.NewVault(st), opened: make(chan struct{}), ready: make(chan struct{}),
		served: make(chan struct{}), sock: filepath.Join(data, SocketName)}
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
	go func() {
		defer close(g.served)
		_ = g.admin.Serve(ln)
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

// Socket is the admin socket's path.
func (g *Gate) Socket() string { return g.sock }

// Vault is the key source the gate opens: the engine signs through it.
func (g *Gate) Vault() *keys.Vault { return g.vault }

// HoldSecrets registers h to be wiped at seal and reopened at unseal. A
// nil gate (a key store that is never sealed) ignores it.
func (g *Gate) HoldSecrets(h SecretHolder) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holders = append(g.holders, h)
}

// Wait blocks until the first unseal; false when ctx ends first.
func (g *Gate) Wait(ctx context.Context) bool {
	select {
	case <-g.opened:
		return true
	case <-ctx.Done():
		return false
	}
}

// ServeUnsealed hands the HTTP listener to the unsealed handler.
func (g *Gate) ServeUnsealed(h http.Handler) {
	g.live.Store(&h)
	close(g.ready)
}

// awaitReady waits, after the first unseal, until the front ends serve,
// so that vccpki unseal returns when the server really answers.
func (g *Gate) awaitReady(ctx context.Context) bool {
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
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.live.Load(); h != nil && !g.vault.Sealed() {
		(*h).ServeHTTP(w, r)
		return
	}
	sealedReply(w, r)
}

// Wrap guards the HTTPS handler the same way.
func (g *Gate) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.vault.Sealed() {
			sealedReply(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// GetCertificate refuses TLS handshakes while sealed: the HTTPS key is in
// the sealed store.
func (g *Gate) GetCertificate(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
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

// Close stops the admin socket, waits for its server and forgets the
// shares given so far.
func (g *Gate) Close(ctx context.Context) {
	_ = g.admin.Shutdown(ctx)
	<-g.served
	_ = os.Remove(g.sock)
	g.mu.Lock()
	g.wipePending()
	g.mu.Unlock()
}

func (g *Gate) wipePending() {
	for _, s := range g.pending {
		s.Wipe()
	}
	g.pending = nil
}
