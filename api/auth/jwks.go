package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// MaxJWKSBytes bounds a JWKS document read from the provider.
const MaxJWKSBytes = 256 << 10

// maxJWKSKeys bounds the keys kept from one JWKS document.
const maxJWKSKeys = 100

// maxWithdrawn bounds the key IDs remembered as withdrawn.
const maxWithdrawn = 1024

// KeySet is the provider's JWKS (RFC 7517 §5) as the authenticator uses it;
// it implements go-oidc's oidc.KeySet. Keys are cached by kid. A token
// naming a kid not in the cache makes it fetch the JWKS again: one fetch
// for all the requests that want one at that moment (singleflight), and no
// more than one per MinRefresh (a request that comes sooner waits for the
// next). The cache is replaced before the fetch's waiters are answered
// and every verification reads it afresh, so once a fetch has withdrawn a
// key no later request verifies with it; a kid that a fetch withdrew is
// refused at once ever after, without another fetch. Each replacement
// increments the generation, so that a request that saw an older
// generation uses the newer keys instead of fetching again.
type KeySet struct {
	// URL is the provider's jwks_uri.
	URL string
	// HTTPClient fetches it.
	HTTPClient *http.Client
	// Algorithms are the JWS algorithms a token may be parsed with.
	Algorithms []jose.SignatureAlgorithm
	// MaxAge: keys older than this are fetched again before use, so that a
	// withdrawn key stops verifying even if no token names a new one.
	MaxAge time.Duration
	// MinRefresh is the least time between two fetches.
	MinRefresh time.Duration
	// Now is the clock of MaxAge and MinRefresh.
	Now func() time.Time

	sleep     func(time.Duration) // time.Sleep; tests record the waits
	sf        singleflight.Group
	mu        sync.Mutex
	gen       uint64 // fetches that replaced keys
	keys      map[string]jose.JSONWebKey
	fetched   time.Time // when keys were fetched
	lastTry   time.Time // when the last fetch started, successful or not
	withdrawn map[string]bool
	order     []string // withdrawn kids, oldest first
}

// errFetch marks a failure to fetch the JWKS (the provider is down), which
// the authenticator answers 503 rather than 401.
var errFetch = errors.New("fetching keys")

func (k *KeySet) snapshot() (uint64, map[string]jose.JSONWebKey, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.gen, k.keys, k.fetched
}

// VerifySignature implements oidc.KeySet: it returns the payload of a
// compact JWS signed by one of the provider's current keys.
func (k *KeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, k.Algorithms)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("the JWS has not exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	k.mu.Lock()
	gone := k.withdrawn[kid]
	k.mu.Unlock()
	if gone {
		return nil, fmt.Errorf("key %q was withdrawn from the provider's JWKS", kid)
	}
	gen, keys, fetched := k.snapshot()
	if keys == nil || k.Now().Sub(fetched) >= k.MaxAge {
		fresh, err := k.refresh(ctx, gen)
		switch {
		case err == nil:
			keys = fresh
		case keys == nil:
			return nil, err
		}
		// The provider cannot be reached: the keys it last published serve
		// until it can, as they did before this fetch was due.
	}
	p, err := verifyWith(jws, kid, keys)
	if _, known := keys[kid]; err == nil || (kid != "" && known) {
		return p, err
	}
	// An unknown kid (or no kid, and no key verified): the provider may
	// have rotated its keys.
	if keys, err = k.refresh(ctx, gen); err != nil {
		return nil, err
	}
	return verifyWith(jws, kid, keys)
}

// verifyWith verifies with the key named kid; a token without kid is tried
// with every key.
func verifyWith(jws *jose.JSONWebSignature, kid string, keys map[string]jose.JSONWebKey) ([]byte, error) {
	if kid != "" {
		key, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("no key %q in the provider's JWKS", kid)
		}
		return jws.Verify(&key)
	}
	for _, key := range keys {
		if p, err := jws.Verify(&key); err == nil {
			return p, nil
		}
	}
	return nil, errors.New("no key of the provider's JWKS verifies the token")
}

// refresh returns keys newer than generation seen: the current ones when
// another request replaced them meanwhile, else those of a fetch shared
// with every request that asks now.
func (k *KeySet) refresh(ctx context.Context, seen uint64) (map[string]jose.JSONWebKey, error) {
	k.mu.Lock()
	if k.gen != seen {
		keys := k.keys
		k.mu.Unlock()
		return keys, nil
	}
	k.mu.Unlock()
	ch := k.sf.DoChan("jwks", func() (any, error) {
		k.mu.Lock()
		if k.gen != seen { // a fetch ended between the check above and here
			keys := k.keys
			k.mu.Unlock()
			return keys, nil
		}
		wait := k.MinRefresh - k.Now().Sub(k.lastTry)
		k.mu.Unlock()
		if wait > 0 && !k.lastTry.IsZero() {
			sleep := time.Sleep
			if k.sleep != nil {
				sleep = k.sleep
			}
			sleep(wait) // at most MinRefresh; waiters may leave meanwhile
		}
		k.mu.Lock()
		k.lastTry = k.Now()
		k.mu.Unlock()
		keys, err := k.fetch()
		if err != nil {
			return nil, err
		}
		k.replace(keys)
		return keys, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", errFetch, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(map[string]jose.JSONWebKey), nil
	}
}

// replace installs a fetched key set, remembering the kids it withdrew.
func (k *KeySet) replace(keys map[string]jose.JSONWebKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.withdrawn == nil {
		k.withdrawn = map[string]bool{}
	}
	for kid := range k.keys {
		if _, ok := keys[kid]; !ok && !k.withdrawn[kid] {
			k.withdrawn[kid] = true
			k.order = append(k.order, kid)
			if len(k.order) > maxWithdrawn {
				delete(k.withdrawn, k.order[0])
				k.order = k.order[1:]
			}
		}
	}
	k.keys, k.fetched = keys, k.Now()
	k.gen++
}

// fetch reads the JWKS: at most MaxJWKSBytes and maxJWKSKeys signature
// keys. Keys of another use or type than this library knows are skipped
// (RFC 7517 §5: "ignore JWKs ... that it does not understand").
func (k *KeySet) fetch() (map[string]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := k.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %s", errFetch, k.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", errFetch, k.URL, MaxJWKSBytes)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s is not a JWKS: %v", errFetch, k.URL, err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, raw := range doc.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || !key.Valid() || !key.IsPublic() || (key.Use != "" && key.Use != "sig") {
			continue
		}
		if _, dup := keys[key.KeyID]; dup {
			continue // two keys with one kid: the first counts
		}
		if len(keys) == maxJWKSKeys {
			return nil, fmt.Errorf("%w: %s holds more than %d keys", errFetch, k.URL, maxJWKSKeys)
		}
		keys[key.KeyID] = key
	}
	return keys, nil
}
