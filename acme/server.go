// Package acme is vccpki's RFC 8555 ACME server: JWS request
// authentication, nonces, accounts with external account binding, orders
// with profiles (the ACME profiles draft) and replacement (RFC 9773),
// authorizations with http-01, dns-01 and tls-alpn-01 (RFC 8737)
// validation of DNS and IP (RFC 8738) identifiers, certificate download,
// revocation and renewal information (RFC 9773). It never builds a
// certificate: issuance and revocation go through the CA engine.
package acme

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// Engine is what the ACME server needs of the CA engine (*ca.Engine).
type Engine interface {
	Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error)
	Revoke(ctx context.Context, serial *big.Int, reason ca.RevocationReason, by ca.Requester) error
	Certificate(ctx context.Context, serial *big.Int) (*ca.CertificateInfo, error)
	Profiles() *profile.Set
}

// Config is the ACME server's configuration. Zero fields take the
// defaults given.
type Config struct {
	// ExternalURL is the base of every URL the server hands out
	// ("https://ca.example:8443"). Empty: the scheme and Host of each
	// request, so that a server started on any address works with any
	// client.
	ExternalURL string
	// ExternalAccountRequired makes newAccount refuse accounts without an
	// external account binding (RFC 8555 §7.3.4).
	ExternalAccountRequired bool
	TermsOfService          string
	Website                 string
	CAAIdentities           []string
	// OrdersPerHour bounds the orders one account creates in any hour
	// (default 3000); MaxPendingAuthzs bounds its pending authorizations
	// (default 3000).
	OrdersPerHour    int
	MaxPendingAuthzs int
	// MaxBodyBytes bounds a request body (default 128 KiB: a 64 KiB CSR in
	// base64url inside a JWS).
	MaxBodyBytes int64
	// OrderLifetime and AuthzLifetime: how long a pending order and an
	// authorization stay usable (default 24h each).
	OrderLifetime time.Duration
	AuthzLifetime time.Duration
	// ChallengeWait is how long a challenge POST waits for its validation
	// to finish before answering "processing" with Retry-After (default 2s).
	ChallengeWait time.Duration
	// MaxValidations bounds the validations running at once (default
	// 256); more wait for a slot, so that a flood of challenge POSTs
	// cannot make the server open unbounded connections.
	MaxValidations int
	// MaxValidationsPerAccount bounds the validations one account runs at
	// once (default 8); a challenge POST beyond it is rateLimited.
	MaxValidationsPerAccount int
	// AccountsPerAddress and OrdersPerAddress bound newAccount (accounts
	// created) and newOrder per client address (defaults
	// DefaultAccountsPerAddress, DefaultOrdersPerAddress): without them
	// per-account limits are bypassed by making more accounts.
	AccountsPerAddress Limit
	OrdersPerAddress   Limit
	// PruneRetention is how long an order or authorization stays after it
	// expired (default 24h), so that a client polling late still reads
	// "invalid"; PruneInterval is how often Run prunes (default 10m).
	PruneRetention time.Duration
	PruneInterval  time.Duration
	// AccountCacheTTL is how long an account read from the store is
	// trusted in memory (accountcache.go): the longest a change made at
	// another instance on the same store goes unseen here. Default 1s;
	// negative: read the account on every request.
	AccountCacheTTL time.Duration
	Validator       ValidatorConfig
	// Secrets is the key store that opens the ACME secrets' box
	// (SecretBox): the engine's key source.
	Secrets keys.SecretSealer
	Now     func() time.Time
	Log     *slog.Logger
}

func (c *Config) defaults() {
	if c.OrdersPerHour <= 0 {
		c.OrdersPerHour = 3000
	}
	if c.MaxPendingAuthzs <= 0 {
		c.MaxPendingAuthzs = 3000
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 128 << 10
	}
	if c.OrderLifetime <= 0 {
		c.OrderLifetime = 24 * time.Hour
	}
	if c.AuthzLifetime <= 0 {
		c.AuthzLifetime = 24 * time.Hour
	}
	if c.ChallengeWait <= 0 {
		c.ChallengeWait = 2 * time.Second
	}
	switch {
	case c.AccountCacheTTL == 0:
		c.AccountCacheTTL = time.Second
	case c.AccountCacheTTL < 0:
		c.AccountCacheTTL = 0
	}
	if c.MaxValidations <= 0 {
		c.MaxValidations = 256
	}
	if c.MaxValidationsPerAccount <= 0 {
		c.MaxValidationsPerAccount = defaultValidationsPerAccount
	}
	c.AccountsPerAddress.defaults(DefaultAccountsPerAddress)
	c.OrdersPerAddress.defaults(DefaultOrdersPerAddress)
	if c.PruneRetention <= 0 {
		c.PruneRetention = defaultPruneRetention
	}
	if c.PruneInterval <= 0 {
		c.PruneInterval = defaultPruneInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.ExternalURL = strings.TrimRight(c.ExternalURL, "/")
	c.Validator.defaults()
}

// Server is an ACME server. Its Handler serves everything under /acme/.
type Server struct {
	cfg      Config
	engine   Engine
	store    store.ACMEStore
	profiles *profile.Set
	nonces   *nonces
	accounts *accountCache
	va       *validator
	secrets  *SecretBox // opens the sealed EAB keys
	limits   *limiters
	log      *slog.Logger
	// validations tracks running validations so that Close can wait;
	// vaSlots bounds how many run at once.
	validations sync.WaitGroup
	vaSlots     chan struct{}
	closing     chan struct{}
	closeOnce   sync.Once
	// wiped is set while the secrets are dropped (Wipe, at vccpki seal).
	wiped atomic.Bool
}

// New builds a server. The nonce key is read from (or created in) st.
func New(ctx context.Context, cfg Config, e Engine, st store.ACMEStore) (*Server, error) {
	cfg.defaults()
	if cfg.ExternalURL != "" && !strings.HasPrefix(cfg.ExternalURL, "https://") && !strings.HasPrefix(cfg.ExternalURL, "http://") {
		return nil, fmt.Errorf("acme: external URL %q must start with https://", cfg.ExternalURL)
	}
	if cfg.Secrets == nil {
		return nil, errors.New("acme: no key store to open the sealed ACME secrets with (Config.Secrets)")
	}
	box, err := OpenSecretBox(ctx, st, cfg.Secrets)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	n, err := newNonces(ctx, st, box, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	va, err := newValidator(cfg.Validator)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	return &Server{cfg: cfg, engine: e, store: st, profiles: e.Profiles(), nonces: n, accounts: newAccountCache(cfg.AccountCacheTTL, cfg.Now), secrets: box, va: va, limits: newLimiters(&cfg), log: cfg.Log, closing: make(chan struct{}), vaSlots: make(chan struct{}, cfg.MaxValidations)}, nil
}

// Close stops accepting validations, waits for running ones, then stops
// recording spent nonces. Requests after it fail.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.validations.Wait()
	s.nonces.close()
}

// Wipe drops the secrets the server holds in memory, zeroing their bytes:
// the secret box's private key and the nonce key (vccpki seal). Until
// Reopen every request is answered 503.
func (s *Server) Wipe() {
	s.wiped.Store(true)
	s.secrets.Close()
	s.nonces.wipe()
}

// Reopen reads the secrets again through Config.Secrets, once the key
// store is unsealed, and serves again.
func (s *Server) Reopen(ctx context.Context) error {
	if err := s.secrets.Reopen(ctx, s.store, s.cfg.Secrets); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	if err := s.nonces.reload(ctx, s.secrets); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	s.wiped.Store(false)
	return nil
}

// Run prunes (Prune) every PruneInterval until ctx ends.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := s.Prune(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("acme: pruning", "err", err)
			}
			if st != (PruneStats{}) {
				s.log.Debug("acme: pruned", "nonces", st.Nonces, "orders", st.Orders, "authzs", st.Authzs)
			}
		}
	}
}

// Paths under the base URL.
const (
	pathDirectory   = "/acme/directory"
	pathNewNonce    = "/acme/new-nonce"
	pathNewAccount  = "/acme/new-account"
	pathNewOrder    = "/acme/new-order"
	pathRevokeCert  = "/acme/revoke-cert"
	pathKeyChange   = "/acme/key-change"
	pathRenewalInfo = "/acme/renewal-info"
	pathAccount     = "/acme/acct/"
	pathOrder       = "/acme/order/"
	pathAuthz       = "/acme/authz/"
	pathChallenge   = "/acme/chall/"
	pathCert        = "/acme/cert/"
)

// Handler serves the ACME resources. Mount it at "/acme/".
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathDirectory, s.directory)
	mux.HandleFunc("HEAD "+pathNewNonce, s.newNonce)
	mux.HandleFunc("GET "+pathNewNonce, s.newNonce)
	for _, rt := range []struct {
		path string
		mode keyMode
		h    handlerFunc
	}{
		{pathNewAccount, withJWK, s.newAccount},
		{pathKeyChange, withKID, s.keyChange},
		{pathAccount + "{id}", withKID, s.account},
		{pathAccount + "{id}/orders", withKID, s.orders},
		{pathNewOrder, withKID, s.newOrder},
		{pathOrder + "{id}", withKID, s.order},
		{pathOrder + "{id}/finalize", withKID, s.finalize},
		{pathAuthz + "{id}", withKID, s.authz},
		{pathChallenge + "{authz}/{type}", withKID, s.challenge},
		{pathCert + "{serial}", withKID, s.certificate},
		{pathCert + "{serial}/{alt}", withKID, s.certificate},
		{pathRevokeCert, withJWKOrKID, s.revokeCert},
	} {
		mux.Handle("POST "+rt.path, s.post(rt.mode, rt.h))
		mux.HandleFunc(rt.path, postOnly)
	}
	mux.HandleFunc("GET "+pathRenewalInfo+"/{id}", s.renewalInfo)
	mux.HandleFunc("/acme/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, notFound("resource "+r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.wiped.Load() {
			// Without the nonce key no nonce can be issued or checked.
			p := newProblem(probServerInternal, http.StatusServiceUnavailable, "the CA is sealed: key holders must run vccpki unseal")
			p.retryAfter = 30 * time.Second
			writeProblem(w, p)
			return
		}
		// RFC 8555 §6.5: a fresh nonce on every response, errors included,
		// and §7.1: the directory as rel="index".
		w.Header().Set("Replay-Nonce", s.nonces.issue())
		w.Header().Set("Cache-Control", "no-store")
		r, ok := s.routeOrg(r)
		w.Header().Add("Link", link(s.base(r)+orgPath(r.Context(), pathDirectory), "index"))
		if !ok {
			writeProblem(w, notFound("no ACME directory of an organisation at "+r.URL.Path))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// postOnly answers any other method on a resource read and changed only
// by (POST-as-)GET over POST: RFC 8555 §6.3 says 405 with a malformed
// problem; RFC 9110 §15.5.6 wants the Allow header.
func postOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	p := malformed("%s is not allowed on %s: use POST (POST-as-GET to read it, RFC 8555 §6.3)", r.Method, r.URL.Path)
	p.Status = http.StatusMethodNotAllowed
	writeProblem(w, p)
}

// base is the URL prefix of every resource: the configured external URL,
// or the scheme and Host the client used.
func (s *Server) base(r *http.Request) string {
	if s.cfg.ExternalURL != "" {
		return s.cfg.ExternalURL
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func link(url, rel string) string { return "<" + url + `>;rel="` + rel + `"` }

// newID returns a random 128-bit identifier for an account, order,
// authorization or challenge token.
// newID returns a fresh random identifier of an ACME object (128 bits).
func newID[T ~string]() T {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return T(b64.EncodeToString(b[:]))
}

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return b64.EncodeToString(b[:])
}

// internal logs an unexpected error and returns the problem a client sees.
func (s *Server) internal(what string, err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	p = toProblem(err)
	if p.Type == probServerInternal {
		s.log.Error("acme: "+what, "err", err)
	}
	return p
}
