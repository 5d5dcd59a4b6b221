package acme

import (
	"context"
	"sync"
	"time"

	"github.com/vcc/vccpki/store"
)

// Account keys and status are kept in memory: every JWS request with a
// "kid" needs them, and reading the account from the store was a SQLite
// query on every request. An entry is trusted for AccountCacheTTL after it
// was read; then the next request reads the account again. A change made
// through this instance (deactivation, key change, contact update) drops
// the entry at once; one made elsewhere — another instance on the same
// store, an EAB key revoked through the API — is seen within the TTL, the
// bound within which a deactivated account may still be served at an
// instance that had it cached (RFC 8555 §7.3.6 asks that requests signed
// by a deactivated account fail; it sets no propagation time across a
// server's replicas).
//
// The store has no change feed for accounts (StatusChanges is the
// certificates' one); a TTL needs no new table and reads each busy account
// once per TTL instead of once per request.
type accountCache struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[store.AccountID]cachedAccount
}

type cachedAccount struct {
	acct store.ACMEAccount
	key  *jwk
	read time.Time
}

// maxCachedAccounts bounds the cache; when full it starts over (the
// accounts in use come back on their next request).
const maxCachedAccounts = 1 << 16

func newAccountCache(ttl time.Duration, now func() time.Time) *accountCache {
	return &accountCache{ttl: ttl, now: now, m: map[store.AccountID]cachedAccount{}}
}

// get returns the account and its parsed key, from memory when the entry
// is younger than the TTL, else from st (ErrNotFound as the store says).
func (c *accountCache) get(ctx context.Context, st store.ACMEStore, id store.AccountID) (store.ACMEAccount, *jwk, error) {
	now := c.now()
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.m[id]
		c.mu.Unlock()
		if ok && now.Sub(e.read) < c.ttl && !now.Before(e.read) {
			return e.acct, e.key, nil
		}
	}
	acct, err := st.Account(ctx, id)
	if err != nil {
		return acct, nil, err
	}
	key, p := parseJWK(acct.JWK)
	if p != nil {
		return acct, nil, p
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if len(c.m) >= maxCachedAccounts {
			clear(c.m)
		}
		c.m[id] = cachedAccount{acct: acct, key: key, read: now}
		c.mu.Unlock()
	}
	return acct, key, nil
}

// forget drops an account changed through this instance.
func (c *accountCache) forget(id store.AccountID) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
