package acme

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/vcc/vccpki/internal/ratelimit"
	"github.com/vcc/vccpki/store"
)

// Limit is a token bucket: Burst requests at once, then one per Every.
type Limit struct {
	Burst int
	Every time.Duration
}

// Defaults of the per-address limits and of the pruning: a hundred new
// accounts and a thousand new orders an hour per address, eight
// validations at once per account, and dead orders kept a day after they
// expired.
var (
	DefaultAccountsPerAddress = Limit{Burst: 100, Every: 36 * time.Second}
	DefaultOrdersPerAddress   = Limit{Burst: 1000, Every: 3600 * time.Millisecond}
)

const (
	defaultValidationsPerAccount = 8
	defaultPruneRetention        = 24 * time.Hour
	defaultPruneInterval         = 10 * time.Minute
	// maxLimiterKeys bounds the memory of each per-address limiter.
	maxLimiterKeys = 100_000
	// pruneBatch bounds one pruning transaction.
	pruneBatch = 1000
)

func (l *Limit) defaults(d Limit) {
	if l.Burst <= 0 {
		l.Burst = d.Burst
	}
	if l.Every <= 0 {
		l.Every = d.Every
	}
}

// limiters are the server's in-process limits. With several instances
// each counts alone: N instances allow N times the per-address rate.
type limiters struct {
	accounts *ratelimit.Limiter // newAccount per client address
	orders   *ratelimit.Limiter // newOrder per client address

	mu          sync.Mutex
	validations map[store.AccountID]int // running validations per account ID
	perAccount  int
}

func newLimiters(cfg *Config) *limiters {
	return &limiters{
		accounts:    ratelimit.New(cfg.AccountsPerAddress.Burst, cfg.AccountsPerAddress.Every, maxLimiterKeys, cfg.Now),
		orders:      ratelimit.New(cfg.OrdersPerAddress.Burst, cfg.OrdersPerAddress.Every, maxLimiterKeys, cfg.Now),
		validations: map[store.AccountID]int{},
		perAccount:  cfg.MaxValidationsPerAccount,
	}
}

// addressKey is the client address a limit counts by: the IPv4 address,
// or the /64 of an IPv6 address (one subscriber usually holds a whole
// /64). Behind a reverse proxy every client shares the proxy's address.
func addressKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// take draws from l for the request's address: rateLimited with
// Retry-After when the bucket is empty (RFC 8555 §6.7).
func take(l *ratelimit.Limiter, r *http.Request, what string) *problem {
	key := addressKey(r)
	ok, wait := l.Take(key)
	if ok {
		return nil
	}
	p := newProblem(probRateLimited, http.StatusTooManyRequests, "too many %s from %s; retry later", what, key)
	p.retryAfter = max(wait, time.Second)
	return p
}

// startAccountValidation counts a validation of account against the
// per-account cap; the caller calls the returned release when it ends.
func (l *limiters) startAccountValidation(account store.AccountID) (release func(), p *problem) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.validations[account] >= l.perAccount {
		p := newProblem(probRateLimited, http.StatusTooManyRequests, "this account has %d validations running, the limit; retry when one has finished", l.perAccount)
		p.retryAfter = time.Second
		return nil, p
	}
	l.validations[account]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.validations[account]--; l.validations[account] <= 0 {
			delete(l.validations, account)
		}
	}, nil
}

// PruneStats says what one Prune deleted.
type PruneStats struct {
	Nonces, Orders, Authzs int64
}

// Prune deletes spent nonces that expired, and orders and authorizations
// that expired more than Config.PruneRetention ago (orders that produced
// a certificate stay: ARI and the certificate URL need their record).
// Accounts and their audit entries are kept. Instances sharing a store
// should prune one at a time (vccpki serve holds a lease for it).
func (s *Server) Prune(ctx context.Context) (PruneStats, error) {
	var st PruneStats
	now := s.cfg.Now()
	n, err := s.store.PruneNonces(ctx, now)
	if err != nil {
		return st, err
	}
	st.Nonces = n
	before := now.Add(-s.cfg.PruneRetention)
	for {
		orders, authzs, err := s.store.PruneOrders(ctx, before, pruneBatch)
		if err != nil {
			return st, err
		}
		st.Orders, st.Authzs = st.Orders+orders, st.Authzs+authzs
		if orders < pruneBatch && authzs < pruneBatch {
			return st, nil
		}
	}
}
