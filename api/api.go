// Package api is the management REST API of vccpki: /api/v1 on the HTTPS
// listener, JSON, described by the embedded OpenAPI 3.1 document
// (openapi.json). Every endpoint names the one permission it needs
// (api/auth); every call, accepted or refused, is audited; acts that hurt
// many wait for a second administrator (approvals.go).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/fleet"
	"github.com/vcc/vccpki/internal/frontend"
	"github.com/vcc/vccpki/internal/ratelimit"
	"github.com/vcc/vccpki/store"
)

// Prefix is where the API is served.
const Prefix = "/api/v1"

// MaxBody bounds every request body (a CSR included).
const MaxBody = 64 << 10

// DefaultMaxSignBody bounds the body of POST /sign unless configured: a
// DSSE payload of an OMS statement is about 150 bytes a file, so 8 MiB is
// some 50,000 files (base64 and JSON included).
const DefaultMaxSignBody = 8 << 20

// Fleet is what the API needs of fleet discovery (fleet.FrontEnd).
type Fleet interface {
	// Registry returns the service registry.
	Registry() *fleet.Registry
	// Last returns the last discovery's report, nil before the first.
	Last() *fleet.Report
	// Discover runs a discovery now and returns its report.
	Discover(ctx context.Context) *fleet.Report
}

// Config is what the API is built from.
type Config struct {
	Engine        *ca.Engine
	Store         store.Store
	Authenticator auth.Authenticator
	Roles         auth.Roles // nil: auth.DefaultRoles
	Fleet         Fleet      // nil: no service registry; the fleet endpoints answer 404
	// RateBurst requests per identity at once, one more every RateEvery
	// (0: 60 and 1s).
	RateBurst   int
	RateEvery   time.Duration
	ApprovalTTL time.Duration // how long a request of dual control waits (0: 24h)
	Log         *slog.Logger
	Now         func() time.Time
	HTTPSAddr   string // for the banner
	// LoginInfo is served at /login-info for vccpki login; nil when the
	// API takes no OIDC tokens.
	LoginInfo *LoginInfo
	// TimestampPolicy is the TSA policy of server-side signatures' time-
	// stamps (the TSA's default); zero: POST /sign answers 503.
	TimestampPolicy ca.TimestampPolicy
	// NoSigningKeyCreation: POST /sign does not make a profile's
	// server-held key on first use (vccpki sign key create does).
	NoSigningKeyCreation bool
	// MaxSignBody bounds the body of POST /sign; 0 means
	// DefaultMaxSignBody.
	MaxSignBody int64
}

// Server serves the API; it is a front end of vccpki serve.
type Server struct {
	cfg     Config
	roles   auth.Roles
	limiter *ratelimit.Limiter
	mux     *http.ServeMux
	routes  []route
}

var _ frontend.FrontEnd = (*Server)(nil)

// route is one endpoint: the pattern, the one permission it needs ("" for
// the document itself) and its handler.
type route struct {
	method, path string
	perm         auth.Permission
	h            func(*call) error
}

// call is one request being served.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	principal *auth.Principal
	s         *Server
	status    int  // written status
	audited   bool // the call's audit entry was written with the handler's own (callEvent)
}

// New builds the API.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Store == nil || cfg.Authenticator == nil {
		return nil, errors.New("api: engine, store and authenticator are required")
	}
	if cfg.Roles == nil {
		cfg.Roles = auth.DefaultRoles
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 60
	}
	if cfg.RateEvery <= 0 {
		cfg.RateEvery = time.Second
	}
	if cfg.MaxSignBody <= 0 {
		cfg.MaxSignBody = DefaultMaxSignBody
	}
	if cfg.ApprovalTTL <= 0 {
		cfg.ApprovalTTL = 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, roles: cfg.Roles, limiter: ratelimit.New(cfg.RateBurst, cfg.RateEvery, 10000, cfg.Now), mux: http.NewServeMux()}
	s.routes = s.table()
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+Prefix+rt.path, s.handler(rt))
	}
	s.mux.HandleFunc(Prefix+"/", s.unmatched)
	return s, nil
}

// table lists every endpoint of the API.
func (s *Server) table() []route {
	var rs []route
	add := func(method, path string, perm auth.Permission, h func(*call) error) {
		rs = append(rs, route{method, path, perm, h})
	}
	add("GET", "/openapi.json", "", serveDocument)
	s.casRoutes(add)
	s.caLifecycleRoutes(add)
	s.certificateRoutes(add)
	s.profileRoutes(add)
	s.credentialRoutes(add)
	s.fleetRoutes(add)
	s.auditRoutes(add)
	s.tsaRoutes(add)
	s.approvalRoutes(add)
	add("GET", "/login-info", "", s.loginInfo)
	s.signRoutes(add)
	s.organisationRoutes(add)
	return rs
}

type addFunc func(method, path string, perm auth.Permission, h func(*call) error)

// Register implements frontend.FrontEnd: the API is HTTPS only.
func (s *Server) Register(m frontend.Muxes) { m.HTTPS.Handle(Prefix+"/", s) }

// Banner implements frontend.FrontEnd.
func (s *Server) Banner() []string {
	return []string{fmt.Sprintf("Management API   https://%s%s (OpenAPI at %s/openapi.json)", s.cfg.HTTPSAddr, Prefix, Prefix)}
}

// Run implements frontend.FrontEnd: nothing runs in the background.
func (s *Server) Run(ctx context.Context) error { return frontend.Idle(ctx) }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	limit := int64(MaxBody)
	if r.Method == http.MethodPost && r.URL.Path == Prefix+"/sign" {
		limit = s.cfg.MaxSignBody // a DSSE payload lists every file of a model
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	s.mux.ServeHTTP(w, r)
}

// unmatched answers a path or method the API does not have; an OPTIONS
// preflight is refused (no CORS: the API is not for browsers of other
// origins).
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, s: s}
	var e *apiError
	allowed := s.allowedMethods(r)
	switch {
	case r.Method == http.MethodOptions:
		e = problem(http.StatusMethodNotAllowed, ProbMethodNotAllowed, "OPTIONS is not served: the API does not do CORS")
	case len(allowed) > 0:
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		e = problem(http.StatusMethodNotAllowed, ProbMethodNotAllowed, r.Method+" is not allowed here; use "+strings.Join(allowed, " or "))
	default:
		e = problem(http.StatusNotFound, ProbNotFound, "no such endpoint; the API is described at "+Prefix+"/openapi.json")
	}
	if p, err := s.cfg.Authenticator.Authenticate(r); err == nil {
		c.principal = p
	}
	c.fail(e)
	s.audit(c, e)
}

func (s *Server) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{"GET", "POST", "DELETE"} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pat := s.mux.Handler(r2); pat != "" && pat != Prefix+"/" {
			out = append(out, m)
		}
	}
	return out
}

// handler authenticates, limits, authorizes, serves and audits one route.
func (s *Server) handler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, s: s}
		err := s.serve(c, rt)
		var e *apiError
		if err != nil {
			e = fromError(err)
			if e.status == http.StatusInternalServerError {
				s.cfg.Log.Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			if c.status == 0 {
				c.fail(e)
			}
		}
		if !c.audited || e != nil {
			s.audit(c, e)
		}
	})
}

func (s *Server) serve(c *call, rt route) error {
	if rt.perm == "" {
		return rt.h(c)
	}
	p, err := s.cfg.Authenticator.Authenticate(c.r)
	var ae *auth.Error
	switch {
	case err == nil && p != nil:
		c.principal = p
	case errors.As(err, &ae):
		if ok, wait := s.limiter.Take("addr:" + clientHost(c.r)); !ok {
			return &apiError{status: http.StatusTooManyRequests, name: ProbRateLimited, detail: "too many refused requests from this address", retryAfter: wait}
		}
		name := ProbUnauthorized
		switch ae.Status {
		case http.StatusForbidden:
			name = ProbForbidden
		case http.StatusServiceUnavailable: // the provider's keys or a revocation status out of reach
			name = ProbUnavailable
		}
		return problem(ae.Status, name, ae.Detail)
	case errors.Is(err, auth.ErrNoCredentials) || (err == nil && p == nil):
		if ok, wait := s.limiter.Take("addr:" + clientHost(c.r)); !ok {
			return &apiError{status: http.StatusTooManyRequests, name: ProbRateLimited, detail: "too many unauthenticated requests from this address", retryAfter: wait}
		}
		return problem(http.StatusUnauthorized, ProbUnauthorized, noCredentials)
	default:
		return err
	}
	if ok, wait := s.limiter.Take("id:" + p.String()); !ok {
		return &apiError{status: http.StatusTooManyRequests, name: ProbRateLimited, detail: "too many requests for this identity", retryAfter: wait}
	}
	if !s.roles.Allows(p, rt.perm) {
		return problem(http.StatusForbidden, ProbForbidden, fmt.Sprintf("this needs permission %s, which none of your roles (%s) grants", rt.perm, strings.Join(p.Roles, ", ")))
	}
	if e := checkScope(p, rt.perm); e != nil {
		return e
	}
	return rt.h(c)
}

func clientHost(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return host
}

// actor names the caller for the audit log.
func (c *call) actor() string {
	if c.principal == nil {
		return "anonymous"
	}
	return c.principal.String()
}

// callEvent is the call's audit entry: caller, source, target, outcome.
// A handler that writes its own entries may write this one with them, in
// the same transaction, and set c.audited.
func (s *Server) callEvent(c *call, status int, e *apiError) store.AuditEvent {
	result := fmt.Sprintf("ok: %d from %s", status, c.r.RemoteAddr)
	if e != nil {
		result = fmt.Sprintf("refused: %d %s from %s: %s", e.status, e.name, c.r.RemoteAddr, e.detail)
	}
	ev := store.AuditEvent{Time: s.cfg.Now().UTC(), Actor: c.actor(), Action: "api.call", Object: c.r.Method + " " + c.r.URL.Path, Result: result}
	if c.principal != nil {
		ev.Org = c.principal.Org // a partner's calls are in its own audit view
	}
	return ev
}

// audit writes the call's entry (callEvent).
func (s *Server) audit(c *call, e *apiError) {
	ev := s.callEvent(c, c.status, e)
	if err := s.cfg.Store.AppendAudit(context.WithoutCancel(c.r.Context()), ev); err != nil {
		s.cfg.Log.Error("api: writing the audit entry", "err", err)
	}
}

func (c *call) fail(e *apiError) {
	c.status = e.status
	writeProblem(c.w, c.r, e)
}
