package est

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// identity is an authenticated EST client.
type identity struct {
	method  string            // profile.ESTAuth*
	subject string            // the ca.Requester subject
	cert    *x509.Certificate // the TLS client certificate, if that is how
	serial  string            // a client certificate of ours: its serial
	names   []ca.Identifier   // a bootstrap certificate: the names it may enrol for
}

func (id *identity) requester() ca.Requester {
	return ca.Requester{Protocol: ca.ProtocolEST, Subject: id.subject}
}

var errUnauthenticated = &Error{Status: http.StatusUnauthorized, Message: "authentication required"}

// authenticate decides who sends an enrolment request (RFC 7030 §3.3.2
// client certificates, §3.2.3 HTTP Basic), by the rules of profile p.
func (s *Server) authenticate(r *http.Request, p *profile.Profile, op string) (*identity, error) {
	var certErr error
	if len(r.TLS.PeerCertificates) > 0 {
		id, err := s.certIdentity(r, p, op)
		if err == nil {
			return id, nil
		}
		certErr = err
	}
	if op == opReenroll {
		// RFC 7030 §4.2.2: re-enrolment renews the certificate the client
		// authenticates with; nothing else will do.
		if certErr != nil {
			return nil, certErr
		}
		return nil, &Error{Status: http.StatusForbidden, Message: "simplereenroll needs the TLS client certificate being renewed (RFC 7030 §4.2.2)"}
	}
	user, password, hasBasic := r.BasicAuth()
	if !hasBasic && certErr != nil {
		return nil, certErr
	}
	if !p.EST.Allows(profile.ESTAuthBasic) {
		return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("profile %s accepts only %s for EST", p.Name, strings.Join(p.EST.Auth, " or "))}
	}
	challenge := fmt.Sprintf(`Basic realm="vccpki EST %s", charset="UTF-8"`, p.Name)
	if !hasBasic {
		return nil, &Error{Status: http.StatusUnauthorized, Challenge: challenge,
			Message: fmt.Sprintf("profile %s needs HTTP Basic credentials (vccpki est user add) or a TLS client certificate", p.Name)}
	}
	u, err := s.auth.check(r.Context(), user, password, remoteHost(r))
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			withChallenge := *e
			withChallenge.Challenge = challenge
			return nil, &withChallenge
		}
		return nil, err
	}
	// Basic credentials are bound to one service: they enrol only there.
	if store.OrgOf(u.Org) != store.OrgOf(p.Organisation) {
		return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("the credentials of %q belong to another organisation", u.User)}
	}
	if u.Service != p.Name {
		return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("the credentials of %q are bound to service %s, not %s", u.User, u.Service, p.Name)}
	}
	return &identity{method: profile.ESTAuthBasic, subject: "user:" + u.User}, nil
}

// certIdentity authenticates by TLS client certificate: one of ours, or
// one from a bootstrap CA bound to p. The TLS layer only checked that the
// client holds the key (tls.RequestClientCert); the chain is checked here,
// so that a foreign certificate gets an EST error, not a failed handshake.
func (s *Server) certIdentity(r *http.Request, p *profile.Profile, op string) (*identity, error) {
	peer := r.TLS.PeerCertificates
	leaf := peer[0]
	opts := s.ours
	opts.CurrentTime = s.now()
	if _, err := leaf.Verify(opts); err == nil {
		return s.ourCertIdentity(r.Context(), leaf, p, op)
	}
	if op != opReenroll {
		for _, b := range s.bootstrap {
			bo := b.opts
			bo.CurrentTime = s.now()
			bo.Intermediates = bo.Intermediates.Clone()
			for _, c := range peer[1:] {
				bo.Intermediates.AddCert(c)
			}
			if _, err := leaf.Verify(bo); err != nil {
				continue
			}
			if !b.profiles[p.Name] || !p.EST.Allows(profile.ESTAuthBootstrapCert) {
				return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("bootstrap CA %s is not bound to profile %s", b.name, p.Name)}
			}
			names, err := b.deviceNames(leaf)
			if err != nil {
				return nil, err
			}
			return &identity{method: profile.ESTAuthBootstrapCert, cert: leaf, names: names,
				subject: fmt.Sprintf("bootstrap:%s/%s", b.name, certName(leaf))}, nil
		}
	}
	what := "this CA"
	if op != opReenroll && len(s.bootstrap) > 0 {
		what += " or a bootstrap CA"
	}
	return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("the TLS client certificate (%s) is not a valid client certificate of %s", certName(leaf), what)}
}

// ourCertIdentity accepts a certificate of this CA that the store knows,
// that is not revoked, and that was issued from profile p: a certificate
// authenticates only at the profile that issued it (whatever
// require_binding says), so that a certificate anyone can get from an
// open profile (an ACME one, say) opens no other.
func (s *Server) ourCertIdentity(ctx context.Context, leaf *x509.Certificate, p *profile.Profile, op string) (*identity, error) {
	if op != opReenroll && !p.EST.Allows(profile.ESTAuthClientCert) {
		return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("profile %s does not accept TLS client certificates for enrolment", p.Name)}
	}
	rec, err := s.engine.Certificate(ctx, leaf.SerialNumber)
	if caerr.KindOf(err) == caerr.NotFound || (err == nil && !bytes.Equal(rec.Certificate.Raw, leaf.Raw)) {
		return nil, &Error{Status: http.StatusForbidden, Message: "the TLS client certificate is not one this CA issued"}
	}
	if err != nil {
		return nil, err
	}
	if !rec.RevokedAt.IsZero() {
		return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("the TLS client certificate %s is revoked", rec.Serial)}
	}
	if rec.Profile != p.Name {
		return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(
			"the TLS client certificate %s was issued from profile %s, not %s: it authenticates only at %s%s/; for profile %s use its credentials (vccpki est user add --service %s)",
			rec.Serial, rec.Profile, p.Name, PathPrefix, rec.Profile, p.Name, p.Name)}
	}
	return &identity{method: profile.ESTAuthClientCert, cert: leaf, serial: rec.Serial, subject: "cert:" + rec.Serial}, nil
}

func certName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return clip(c.Subject.CommonName)
	case len(c.DNSNames) > 0:
		return clip(c.DNSNames[0])
	}
	return "serial " + ca.FormatSerial(c.SerialNumber)
}

// remoteHost is the TCP peer's address. It is read before the globalsign
// router, whose RealIP middleware would replace it with X-Forwarded-For.
func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// authenticator checks HTTP Basic credentials against slow hashes, with
// attempt limits, a bound on the hashes running at once, and a cache of
// recently verified passwords.
type authenticator struct {
	users     Credentials
	userLimit *failureLimiter
	addrLimit *failureLimiter
	hashSlots chan struct{} // one per password hash running
	cache     *verifiedCache
	dummy     string // hash checked for unknown users, so that they cost the same
}

// maxConcurrentHashes bounds the argon2id hashes running at once. Each
// holds its memory (19 MiB by default) while it runs, so this, not the
// core count, bounds what a flood of logins can make the server allocate.
const maxConcurrentHashes = 4

// hashSlotWait is how long an attempt waits for a hash slot before it is
// answered 503 with Retry-After.
const hashSlotWait = 2 * time.Second

func newAuthenticator(users Credentials, l Limits, now func() time.Time) (*authenticator, error) {
	l = l.withDefaults()
	pw, err := GeneratePassword()
	if err != nil {
		return nil, err
	}
	dummy, err := HashPassword(pw, DefaultHashParams)
	if err != nil {
		return nil, err
	}
	cache, err := newVerifiedCache(10*time.Minute, 10_000, now)
	if err != nil {
		return nil, err
	}
	return &authenticator{
		users:     users,
		userLimit: newFailureLimiter(l.UserBurst, l.UserEvery, l.MaxKeys, now).sharedIn(l.Shared),
		addrLimit: newFailureLimiter(l.AddrBurst, l.AddrEvery, l.MaxKeys, now).sharedIn(l.Shared),
		hashSlots: make(chan struct{}, maxConcurrentHashes),
		cache:     cache,
		dummy:     dummy,
	}, nil
}

var errWrongPassword = &Error{Status: http.StatusUnauthorized, Message: "wrong user name or password"}

// limitedKey is one bucket an attempt draws from.
type limitedKey struct {
	l   *failureLimiter
	key string
}

func tooMany(d time.Duration) error {
	// RFC 6585 §4: 429 with Retry-After.
	return &Error{Status: http.StatusTooManyRequests, Retry: d,
		Message: "too many failed attempts for this user or from this address; try again later"}
}

var errHashBusy = &Error{Status: http.StatusServiceUnavailable, Retry: time.Second,
	Message: "too many logins are being checked right now; try again in a second"}

// check verifies user's password. A user or address without tokens left
// is refused whatever the password. A password verified recently (the
// cache) passes without taking a token, so a client enrolling many times
// at once is not limited by its own success. Any other attempt takes its
// limiter tokens (here, then in the shared store) before any slow hash
// runs, and waits for one of a few hash slots; a correct password gives
// the tokens back, so only failures count.
func (a *authenticator) check(ctx context.Context, user, password, addr string) (store.ESTUser, error) {
	keys := []limitedKey{{a.userLimit, limitKey("u:", user)}, {a.addrLimit, limitKey("a:", addr)}}
	for _, k := range keys {
		// Refused before the cache is asked: otherwise a locked-out user
		// would still tell a right guess (200) from a wrong one (429).
		if ok, d := k.l.Peek(k.key); !ok {
			return store.ESTUser{}, tooMany(d)
		}
	}
	u, err := a.users.ESTUser(ctx, user)
	hash := u.Hash
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash = a.dummy
	case err != nil:
		return store.ESTUser{}, err
	}
	if hash != a.dummy && a.cache.has(user, hash, password) {
		return u, nil
	}
	for i, k := range keys {
		if d := k.l.take(k.key); d > 0 {
			for _, t := range keys[:i] {
				t.l.refund(t.key)
			}
			return store.ESTUser{}, tooMany(d)
		}
	}
	failed, sharedTaken := false, 0
	defer func() {
		if failed {
			return
		}
		for i, k := range keys {
			k.l.refund(k.key)
			if i < sharedTaken {
				k.l.refundShared(k.key)
			}
		}
	}()
	for _, k := range keys {
		if d := k.l.takeShared(ctx, k.key); d > 0 {
			return store.ESTUser{}, tooMany(d) // nothing was tried: every token goes back
		}
		sharedTaken++
	}
	ok, err := a.slowCheck(ctx, hash, password)
	if err != nil {
		return store.ESTUser{}, fmt.Errorf("EST user %q: %w", clip(user), err)
	}
	if !ok || hash == a.dummy {
		failed = true
		return store.ESTUser{}, errWrongPassword
	}
	a.cache.add(user, hash, password)
	return u, nil
}

// slowCheck runs CheckPassword in one of the hash slots, or answers 503
// when none frees up in time.
func (a *authenticator) slowCheck(ctx context.Context, hash, password string) (bool, error) {
	t := time.NewTimer(hashSlotWait)
	defer t.Stop()
	select {
	case a.hashSlots <- struct{}{}:
	case <-t.C:
		return false, errHashBusy
	case <-ctx.Done():
		return false, errHashBusy
	}
	defer func() { <-a.hashSlots }()
	return CheckPassword(hash, password)
}

// verifiedCache remembers, for a while, that a password matched its hash,
// so that a client enrolling often pays the slow hash once. It keeps only
// an HMAC under a key that never leaves memory, and the stored hash is part
// of the HMAC input, so new credentials invalidate the entry.
type verifiedCache struct {
	key []byte
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[[sha256.Size]byte]time.Time
}

func newVerifiedCache(ttl time.Duration, maxEntries int, now func() time.Time) (*verifiedCache, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &verifiedCache{key: key, ttl: ttl, max: maxEntries, now: now, m: map[[sha256.Size]byte]time.Time{}}, nil
}

func (c *verifiedCache) mac(user, hash, password string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key)
	for _, s := range []string{user, hash, password} {
		fmt.Fprintf(h, "%d:", len(s))
		h.Write([]byte(s))
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func (c *verifiedCache) has(user, hash, password string) bool {
	k := c.mac(user, hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[k]
	if ok && c.now().After(exp) {
		delete(c.m, k)
		return false
	}
	return ok
}

func (c *verifiedCache) add(user, hash, password string) {
	k := c.mac(user, hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = c.now().Add(c.ttl)
}
