// Package ocsp is vccpki's OCSP responder (RFC 6960, with the RFC 5019
// lightweight profile for HTTP) and its CRL distribution point (RFC 5280).
//
// The hot path signs nothing: a response for every valid certificate is
// signed ahead of time, kept in memory and re-signed in the background
// before half its validity has passed; a revocation made by any process
// reaches the store's change feed, and its response is re-signed at once.
// Requests that cannot be answered from the cache (a nonce, several
// CertIDs, a serial nobody issued) are signed live within a budget.
// Status and signatures come from the CA engine; this package parses
// requests, chooses what to sign when, and serves bytes.
package ocsp

import (
	"context"
	"crypto"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// Engine is what the responder uses of the CA engine.
type Engine interface {
	OCSPResponder(issuer string) (*ca.OCSPResponder, error)
	StatusOf(ctx context.Context, issuer string, serial *big.Int) (ca.CertStatus, error)
	WalkStatuses(ctx context.Context, issuer string, fn func(ca.SerialStatus) error) error
	StatusChanges(ctx context.Context, after int64, limit int) ([]ca.SerialStatus, int64, error)
	LastStatusChange(ctx context.Context) (int64, error)
	PruneStatusChanges(ctx context.Context, keep time.Duration) error
	BuildCRL(ctx context.Context, issuer string, shard int) (*ca.CRL, error)
	CRLShards() int
	CRLValidity() time.Duration
	CRLIssuers() []string
	// IssuingCAs are the issuing CAs the engine holds now.
	IssuingCAs() []string
	// CAChanges and RevokedCAs let the responder follow CAs created and
	// revoked while it runs (cas.go).
	CAChanges() (uint64, <-chan struct{})
	RevokedCAs() []ca.RevokedCA
}

// Config tunes the responder. Zero fields take the defaults.
type Config struct {
	// Validity is nextUpdate - thisUpdate of every response; responses
	// are re-signed when half of it has passed. Default 24h.
	Validity time.Duration
	// Presign are the CertID hash algorithms answered from pre-signed
	// responses for every valid certificate. Default SHA-1, which
	// openssl, Firefox and x/crypto/ocsp send. Others are signed on first
	// request and then kept and refreshed like the rest.
	Presign []crypto.Hash
	// PollInterval is how often the store's change feed is read: the
	// bound on how late a revocation by another process is served.
	// Default 250ms.
	PollInterval time.Duration
	// LiveSignatures bounds the responses signed per second on request
	// (nonces, several CertIDs, serials nobody issued); beyond it the
	// answer is tryLater, or the cached response without the nonce.
	// Default 2000; -1 for no limit.
	LiveSignatures int
	// MaxAge caps Cache-Control max-age. Default 1h.
	MaxAge time.Duration
	// FullCRL serves /crl/<issuer>.crl for the issuing CAs also when the
	// engine shards CRLs. Without shards the full CRL is always served.
	FullCRL bool
	// PresignWorkers sign in parallel in the first pre-signing pass (the
	// later refreshes use one). Default 2.
	PresignWorkers int
	// RefreshCheck is how often tables and CRLs are checked for being due
	// for re-signing. Default Validity/20, at most a minute.
	RefreshCheck time.Duration
	// Shared, when set, is the store the instances sharing a database
	// keep their pre-signed responses in, so that each is signed about
	// once (shared.go). Nil: every response is signed here.
	Shared store.SharedOCSPStore
	// SharedCRLs, when set, is where the instances keep the CRLs they
	// build, so that a CRL due for its refresh is built about once
	// (crlshared.go). Nil: every CRL is built here.
	SharedCRLs store.SharedCRLStore
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

func (c *Config) defaults() error {
	if c.Validity == 0 {
		c.Validity = 24 * time.Hour
	}
	if c.Validity < time.Minute {
		return fmt.Errorf("ocsp.validity %v is too short", c.Validity)
	}
	if c.Presign == nil {
		c.Presign = []crypto.Hash{crypto.SHA1}
	}
	for _, h := range c.Presign {
		if h != crypto.SHA1 && h != crypto.SHA256 {
			return fmt.Errorf("ocsp.presign: %v CertIDs are not supported (sha1, sha256)", h)
		}
	}
	if c.PollInterval == 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.LiveSignatures == 0 {
		c.LiveSignatures = 2000
	}
	if c.MaxAge == 0 {
		c.MaxAge = time.Hour
	}
	if c.PresignWorkers == 0 {
		c.PresignWorkers = 2
	}
	if c.RefreshCheck == 0 {
		c.RefreshCheck = min(c.Validity/20, time.Minute)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Responder answers OCSP requests and serves CRLs. Create it with New,
// mount it with Register, and keep Run running for the background work.
type Responder struct {
	cfg     Config
	e       Engine
	issuers atomic.Pointer[[]*issuer] // grows when a CA is created (cas.go)
	crls    *crlSet
	// cas is what the responder knows of the hierarchy; guarded by casMu
	// (cas.go).
	casMu   sync.Mutex
	cas     casSeen
	live    *limiter
	metrics *metrics

	// follow serialises applying the change feed with swapping in a
	// rebuilt table, so that no change is lost between the two.
	follow sync.Mutex
	cursor int64
	// toShare collects the responses signed for changes, to be stored
	// for the other instances once a page of changes is applied (shared.go).
	// Guarded by follow.
	toShare []store.SharedOCSP
	pageEnd int64         // the change feed position after the page being applied; guarded by follow
	ready   chan struct{} // closed once every presigned table is built
}

// New prepares a responder for the engine's issuing CAs.
func New(e Engine, cfg Config) (*Responder, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &Responder{cfg: cfg, e: e, live: newLimiter(cfg.LiveSignatures, cfg.Now), ready: make(chan struct{})}
	r.crls = newCRLSet(e, cfg)
	r.cas.revoked = map[string]bool{}
	if err := r.syncCAs(context.Background(), true); err != nil {
		return nil, err
	}
	r.metrics = newMetrics(cfg.Registerer, r)
	return r, nil
}

// Ready is closed once the first pre-signing pass over every issuer is
// done; before that, answers for valid certificates are signed live.
func (r *Responder) Ready() <-chan struct{} { return r.ready }

// answer is a signed response ready to send.
type answer struct {
	signed     []byte
	certs      []byte
	producedAt time.Time
	nextUpdate time.Time
	etag       uint64
	nonce      bool   // bound to the request: not for HTTP caches
	source     string // "cache" or "live"
}

// answer produces the response to a DER OCSPRequest, or an error that
// statusFor maps to the OCSP status to send instead.
func (r *Responder) answer(ctx context.Context, der []byte) (answer, error) {
	req, err := parseRequest(der)
	if err != nil {
		return answer{}, err
	}
	is := r.issuerFor(req)
	if is == nil {
		return answer{}, errUnauthorized
	}
	now := r.cfg.Now()
	var fallback *answer
	if len(req.certs) == 1 {
		id := req.certs[0]
		if k, ok := id.key(); ok {
			if c, ok := is.table(id.hash).get(k); ok && c.nextUpdate.After(now) {
				a := answer{signed: c.signed, certs: c.certs, producedAt: c.producedAt, nextUpdate: c.nextUpdate, etag: c.etag, source: "cache"}
				if req.nonce == nil {
					return a, nil
				}
				fallback = &a
			}
		}
	}
	if !r.live.allow() {
		// RFC 5019 §4 lets a responder answer a nonce from its cache.
		if fallback != nil {
			return *fallback, nil
		}
		return answer{}, errBusy
	}
	// A response for one known certificate is kept for the next asker, in
	// the table as it is now, before the status is read: if a rebuild
	// swaps the table meanwhile, the answer goes into the old one and is
	// dropped with it, rather than into the new one with a stale status.
	var keep *table
	if len(req.certs) == 1 && req.nonce == nil {
		keep = is.table(req.certs[0].hash)
	}
	singles := make([]ca.OCSPSingle, len(req.certs))
	for i, id := range req.certs {
		serial := id.serialInt()
		st := ca.CertStatus{Status: ca.Unknown}
		if _, ok := id.key(); ok {
			if st, err = r.e.StatusOf(ctx, is.name, serial); err != nil {
				return answer{}, err
			}
		}
		singles[i] = ca.OCSPSingle{Hash: id.hash, Serial: serial, Status: st}
	}
	signed, err := is.responder.Sign(ctx, singles, req.nonce, r.cfg.Validity)
	if err != nil {
		return answer{}, err
	}
	r.metrics.liveSigned.Inc()
	a := answer{signed: signed.Signed, certs: signed.Certs, producedAt: signed.ProducedAt, nextUpdate: signed.NextUpdate,
		etag: etagOf(signed.Signed), nonce: req.nonce != nil, source: "live"}
	// putIfAbsent: if the change feed has written this serial meanwhile,
	// its answer is newer than the status read above.
	if keep != nil && singles[0].Status.Status != ca.Unknown {
		if k, ok := req.certs[0].key(); ok {
			keep.putIfAbsent(k, signed)
		}
	}
	return a, nil
}

func etagOf(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// limiter is a token bucket: up to rate events a second, in bursts of up
// to a tenth of that.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newLimiter(rate int, now func() time.Time) *limiter {
	burst := max(float64(rate)/10, 1)
	return &limiter{rate: float64(rate), burst: burst, tokens: burst, last: now(), now: now}
}

func (l *limiter) allow() bool {
	if l.rate < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// Stats describes the pre-signed responses held in memory.
type Stats struct {
	Responses int // entries of every issuer and hash algorithm
	Bytes     int // bytes of the chunks holding them, garbage included
}

// Stats counts the pre-signed responses held in memory.
func (r *Responder) Stats() Stats {
	var st Stats
	for _, is := range r.issuerList() {
		for _, h := range supportedHashes {
			n, b := is.table(h).stats()
			st.Responses += n
			st.Bytes += b
		}
	}
	return st
}
