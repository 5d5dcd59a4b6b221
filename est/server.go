// Package est is the EST front end of vccpki (RFC 7030, with the RFC 8951
// clarifications), built on github.com/globalsign/est's router. It maps
// labels to profile templates, authenticates clients (TLS client
// certificates of this CA or of a bootstrap CA, HTTP Basic credentials),
// enforces channel binding where a profile asks for it, and asks the CA
// engine for every certificate.
//
// The engine never sees an *http.Request: this package turns each request
// into a ca.IssueRequest.
package est

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"time"

	gsest "github.com/globalsign/est"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// PathPrefix is where EST lives (RFC 7030 §3.2.2).
const PathPrefix = "/.well-known/est/"

// Issuer is what the EST front end needs of the CA engine.
type Issuer interface {
	Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error)
	Chain(issuer string) []*x509.Certificate
	CACert(name string) (*x509.Certificate, bool)
	// CACertGenerations are an issuing CA's certificates, the current
	// generation first, then the retired ones still valid (vccpki ca
	// rollover).
	CACertGenerations(name string) []*x509.Certificate
	// CALinks are the link certificates of those generations (each new
	// key certified by the previous one: ca/rollover_link.go).
	CALinks(name string) []*x509.Certificate
	Root() *x509.Certificate
	IssuerOf(profile string) (string, bool)
	Profiles() *profile.Set
	Certificate(ctx context.Context, serial *big.Int) (*ca.CertificateInfo, error)
}

// Credentials looks up HTTP Basic credentials and the operators' grants
// to client certificates (a store.ESTStore).
type Credentials interface {
	ESTUser(ctx context.Context, user string) (store.ESTUser, error)
	ESTGrant(ctx context.Context, profile, serial string) (store.ESTGrant, error)
}

// BootstrapCA is an external CA whose client certificates may enrol in
// the named profiles (RFC 7030 §3.3.2: a certificate from a third party,
// such as a manufacturer's device certificate).
type BootstrapCA struct {
	Name     string              // for logs and the audit requester
	Certs    []*x509.Certificate // trust anchors; intermediates may follow
	Profiles []string
	// Identity is what names a device: IdentityCN (the default) or
	// IdentitySerial.
	Identity string
	// Names are the names a device may enrol for, each holding "{id}"
	// once, which stands for its identity (e.g. "{id}.vpb.vcc.internal");
	// none means the identity itself is the one name.
	Names []string
}

// Config is what a Server is built from.
type Config struct {
	Engine    Issuer
	Users     Credentials
	Bootstrap []BootstrapCA
	Log       *slog.Logger
	// Limits bound failed authentication attempts; zero fields take the
	// defaults of DefaultLimits.
	Limits Limits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the EST front end: an http.Handler for PathPrefix.
type Server struct {
	engine    Issuer
	users     Credentials
	log       *slog.Logger
	now       func() time.Time
	router    http.Handler
	ours      x509.VerifyOptions // our root and issuing CAs
	bootstrap []bootstrapPool
	attrs     map[string][]byte // DER csrattrs per profile
	auth      *authenticator
}

type bootstrapPool struct {
	name     string
	certs    []*x509.Certificate
	opts     x509.VerifyOptions
	profiles map[string]bool
	identity string   // IdentityCN or IdentitySerial
	names    []string // patterns with idPlaceholder
}

// New builds the front end. It fails on a bootstrap CA bound to a profile
// that does not exist or is not open to EST.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Users == nil {
		return nil, fmt.Errorf("est: an engine and a credential store are needed")
	}
	s := &Server{engine: cfg.Engine, users: cfg.Users, log: cfg.Log, now: cfg.Now, attrs: map[string][]byte{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(cfg.Engine.Root())
	for _, p := range cfg.Engine.Profiles().All() {
		if c, ok := cfg.Engine.CACert(p.Issuer); ok {
			inters.AddCert(c)
		}
		for _, c := range cfg.Engine.Chain(p.Issuer) {
			inters.AddCert(c)
		}
		if p.AllowsProtocol(profile.ProtocolEST) {
			der, err := csrAttrs(p).Marshal()
			if err != nil {
				return nil, fmt.Errorf("est: csrattrs of profile %s: %w", p.Name, err)
			}
			s.attrs[p.Name] = der
		}
	}
	s.ours = x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, b := range cfg.Bootstrap {
		bp, err := s.bootstrapPool(b)
		if err != nil {
			return nil, err
		}
		s.bootstrap = append(s.bootstrap, bp)
	}
	auth, err := newAuthenticator(cfg.Users, cfg.Limits, s.now)
	if err != nil {
		return nil, err
	}
	s.auth = auth
	router, err := gsest.NewRouter(&gsest.ServerConfig{
		CA:     &backend{s: s},
		Logger: logAdapter{s.log},
		// Authentication happened before the router (see ServeHTTP); this
		// only refuses a request that somehow skipped it.
		CheckBasicAuth: func(ctx context.Context, _ *http.Request, _, _, _ string) error {
			if _, ok := ctx.Value(identityKey{}).(*identity); ok {
				return nil
			}
			return errUnauthenticated
		},
	})
	if err != nil {
		return nil, err
	}
	s.router = router
	return s, nil
}

func (s *Server) bootstrapPool(b BootstrapCA) (bootstrapPool, error) {
	if len(b.Certs) == 0 {
		return bootstrapPool{}, fmt.Errorf("est: bootstrap CA %s: no certificates", b.Name)
	}
	if len(b.Profiles) == 0 {
		return bootstrapPool{}, fmt.Errorf("est: bootstrap CA %s: bound to no profile", b.Name)
	}
	if err := checkBootstrapNames(b); err != nil {
		return bootstrapPool{}, err
	}
	bp := bootstrapPool{name: b.Name, certs: b.Certs, profiles: map[string]bool{}, identity: b.Identity, names: b.Names}
	if bp.identity == "" {
		bp.identity = IdentityCN
	}
	if len(bp.names) == 0 {
		bp.names = []string{idPlaceholder}
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	for i, c := range b.Certs {
		if i == 0 {
			roots.AddCert(c)
		} else {
			inters.AddCert(c)
		}
	}
	bp.opts = x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, name := range b.Profiles {
		p, ok := s.engine.Profiles().Get(name)
		if !ok || !p.AllowsProtocol(profile.ProtocolEST) || !p.EST.Allows(profile.ESTAuthBootstrapCert) {
			return bootstrapPool{}, fmt.Errorf("est: bootstrap CA %s: profile %q does not exist or does not accept %s for EST", b.Name, name, profile.ESTAuthBootstrapCert)
		}
		bp.profiles[name] = true
	}
	return bp, nil
}

// ClientCAs are the CA names the TLS server sends in its
// CertificateRequest (RFC 8446 §4.2.4), so that clients choose a
// certificate we accept: Go and OpenSSL clients send a certificate only if
// its issuer is listed. They are our root and issuing CAs and every
// bootstrap CA certificate. Verification itself happens in ServeHTTP, so
// that a certificate from another CA gets an EST error, not a failed
// handshake.
func (s *Server) ClientCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.engine.Root())
	for _, p := range s.engine.Profiles().All() {
		for _, c := range s.engine.CACertGenerations(p.Issuer) {
			pool.AddCert(c)
		}
		for _, c := range s.engine.Chain(p.Issuer) {
			pool.AddCert(c)
		}
	}
	for _, b := range s.bootstrap {
		for _, c := range b.certs {
			pool.AddCert(c)
		}
	}
	return pool
}

// logAdapter gives the globalsign router our slog logger. Its per-request
// lines go to debug level: our own log line covers each request.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Errorf(format string, args ...any) { a.l.Error(fmt.Sprintf(format, args...)) }
func (a logAdapter) Errorw(msg string, kv ...any)      { a.l.Error(msg, kv...) }
func (a logAdapter) Infof(format string, args ...any)  { a.l.Debug(fmt.Sprintf(format, args...)) }
func (a logAdapter) Infow(msg string, kv ...any)       { a.l.Debug(msg, kv...) }
func (a logAdapter) With(kv ...any) gsest.Logger       { return logAdapter{a.l.With(kv...)} }
