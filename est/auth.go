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
			return &identity{method: profile.ESTAuthBootstrapCert, cert: leaf,
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
// that is not revoked, and whose profile fits: the same profile for
// re-enrolment, and for enrolment too when the profile requires a binding
// to its service.
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
	if rec.Profile != p.Name && (op == opReenroll || p.RequireBinding) {
		return nil, &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("the TLS client certificate %s was issued from profile %s, not %s", rec.Serial, rec.Profile, p.Name)}
	}
	return &identity{method: profile.ESTAuthClientCert, cert: leaf, subject: "cert:" + rec.Serial}, nil
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
// failure limits and a cache of recently verified passwords.
type authenticator struct {
	users     Credentials
	userLimit *failureLimiter
	addrLimit *failureLimiter
	cache     *verifiedCache
	dummy     string // hash checked for unknown users, so that they cost the same
}

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
		cache:     cache,
		dummy:     dummy,
	}, nil
}

var errWrongPassword = &Error{Status: http.StatusUnauthorized, Message: "wrong user name or password"}

func (a *authenticator) check(ctx context.Context, user, password, addr string) (store.ESTUser, error) {
	userKey, addrKey := "u:"+user, "a:"+addr
	if d := max(a.userLimit.wait(userKey), a.addrLimit.wait(addrKey)); d > 0 {
		return store.ESTUser{}, &Error{Status: http.StatusTooManyRequests, Retry: d,
			Message: "too many failed attempts for this user or from this address; try again later"}
	}
	u, err := a.users.ESTUser(ctx, user)
	hash := u.Hash
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash = a.dummy
	case err != nil:
		return store.ESTUser{}, err
	}
	ok := a.cache.has(user, hash, password)
	if !ok {
		ok, err = CheckPassword(hash, password)
		if err != nil {
			return store.ESTUser{}, fmt.Errorf("EST user %q: %w", user, err)
		}
		ok = ok && hash != a.dummy
		if ok {
			a.cache.add(user, hash, password)
		}
	}
	if !ok {
		a.userLimit.fail(userKey)
		a.addrLimit.fail(addrKey)
		return store.ESTUser{}, errWrongPassword
	}
	return u, nil
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
