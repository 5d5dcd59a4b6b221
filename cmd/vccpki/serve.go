package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/frontend"
	"github.com/vcc/vccpki/seal"
	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/sign/verify"
	"github.com/vcc/vccpki/store/sqlstore"
)

// serveFlags are serve's overrides of the configuration.
type serveFlags struct {
	common                                  *commonFlags
	httpsAddr, httpAddr, publicURL, metrics string
	vaDNS                                   string
	vaHTTP, vaTLS                           int
}

func parseServeFlags(args []string, out io.Writer) (*serveFlags, error) {
	fs, cf := newFlags("serve", "[--config FILE] [flags]", out)
	f := &serveFlags{common: cf}
	fs.StringVar(&f.httpsAddr, "https-addr", "", "HTTPS listen address (default 127.0.0.1:8443)")
	fs.StringVar(&f.httpAddr, "http-addr", "", "HTTP listen address for OCSP, CRLs and CA certificates (default 127.0.0.1:8080)")
	fs.StringVar(&f.publicURL, "public-url", "", "base of the OCSP, CRL and caIssuers URLs in certificates (default http:// + the HTTP listen address)")
	fs.StringVar(&f.metrics, "metrics-addr", "", "listen address of /metrics, its own listener (default "+defaultMetricsAddr+"; off to serve none)")
	fs.StringVar(&f.vaDNS, "va-dns", "", "DNS server HOST:PORT the ACME validator asks")
	fs.IntVar(&f.vaHTTP, "va-http-port", 0, "port the ACME validator uses for http-01 (default 80)")
	fs.IntVar(&f.vaTLS, "va-tls-port", 0, "port the ACME validator uses for tls-alpn-01 (default 443)")
	return f, parse(fs, args)
}

// apply puts the flags into the configuration, and refuses a public URL
// that contradicts the one stored with the CA.
func (f *serveFlags) apply(ctx context.Context, a *app) error {
	c := a.cfg
	override := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	override(&c.httpsAddr, f.httpsAddr)
	override(&c.httpAddr, f.httpAddr)
	pubSource := "public_url in " + c.file
	if f.publicURL != "" {
		var err error
		if c.publicURL, err = ca.NormalizePublicURL(f.publicURL); err != nil {
			return &exitError{2, "--public-url: " + err.Error()}
		}
		pubSource = "--public-url"
	}
	if err := a.refuseOtherPublicURL(ctx, c.publicURL, pubSource); err != nil {
		return err
	}
	override(&c.metrics, f.metrics)
	override(&c.va.DNS, f.vaDNS)
	if f.vaHTTP != 0 {
		c.va.HTTPPort = f.vaHTTP
	}
	if f.vaTLS != 0 {
		c.va.TLSPort = f.vaTLS
	}
	return nil
}

// runServe serves until ctx ends (SIGINT, SIGTERM). Every goroutine it
// starts runs under one error group and is drained before it returns: the
// listeners first (requests in flight finish), then the front ends'
// background work, then the store closes.
func runServe(ctx context.Context, args []string, out io.Writer) error {
	f, err := parseServeFlags(args, out)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, f.common)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := f.apply(ctx, a); err != nil {
		return err
	}
	c := a.cfg
	stopProfile, err := startCPUProfile()
	if err != nil {
		return err
	}
	defer stopProfile()

	// Listen first, so that port 0 works and the public URL can name the
	// port really bound.
	httpLn, err := net.Listen("tcp", c.httpAddr)
	if err != nil {
		return fmt.Errorf("HTTP listener: %w", err)
	}
	defer httpLn.Close()
	httpsLn, err := net.Listen("tcp", c.httpsAddr)
	if err != nil {
		return fmt.Errorf("HTTPS listener: %w", err)
	}
	defer httpsLn.Close()
	// The URL a new store adopts; a store that has one keeps it.
	pub := c.publicURL
	if pub == "" {
		pub = "http://" + httpLn.Addr().String()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(sign.SignaturesCreated, verify.Verifications)
	reg.MustRegister(sqlstore.GroupCommitCollectors()...)
	metrics, err := listenMetrics(c.metrics, reg, a.log)
	if err != nil {
		return err
	}
	defer metrics.close()
	// A key store split into shares starts sealed (package seal).
	gate, err := seal.Start(ctx, a.store, c.data, a.log)
	if err != nil {
		return err
	}
	if gate != nil {
		defer gate.Close(context.WithoutCancel(ctx))
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	httpSrv, httpsSrv := newServer(nil, a.log, nil), newServer(nil, a.log, tlsConfig)
	ctx, stop := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	// The front ends' background work outlives the listeners' shutdown:
	// requests in flight may still need it.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stop(); stopRun(); _ = g.Wait() }() // drained on every return
	g.Go(func() error {
		<-gctx.Done()
		if ctx.Err() != nil {
			a.log.Info("shutting down: finishing requests in flight")
		}
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		for _, s := range []*http.Server{httpSrv, httpsSrv} {
			if err := s.Shutdown(shutdownCtx); err != nil {
				a.log.Warn("shutdown", "err", err)
			}
		}
		stopRun()
		return nil
	})

	var e *ca.Engine
	if gate != nil {
		httpSrv.Handler = logRequests(a.log, gate)
		serveOn(g, httpSrv, httpLn, a.log)
		if e, err = a.waitUnsealed(gctx, gate, pub, reg, httpLn, httpsLn, out); e == nil {
			stop()
			if werr := g.Wait(); err == nil {
				err = werr
			}
			return err
		}
	} else {
		var created bool
		if e, created, err = a.engine(ctx, pub, true, reg); err != nil {
			return err
		}
		if created {
			a.log.Info("created the CA hierarchy", "data", c.data)
		}
	}
	rootPath, err := a.writeRoot(e)
	if err != nil {
		return err
	}
	certs, err := ca.NewServerCert(ctx, e, a.log)
	if err != nil {
		return err
	}
	tlsConfig.GetCertificate = certs.Get
	if gate != nil {
		tlsConfig.GetCertificate = gate.GetCertificate(certs.Get)
	}
	fronts, err := a.frontEnds(ctx, e, gate, reg, metrics, httpLn.Addr().String(), httpsLn.Addr().String())
	if err != nil {
		return err
	}
	httpHandler, httpsHandler, banner := mount(fronts, tlsConfig)
	if a.cfg.apiAuth.mtls {
		// After every front end's ConfigureTLS (EST replaces ClientCAs):
		// the listener requests client certificates and names the Admin CA.
		m, err := adminMTLS(e)
		if err != nil {
			return err
		}
		m.ConfigureTLS(tlsConfig)
	}
	httpsSrv.Handler = logRequests(a.log, httpsHandler)
	if gate != nil { // the HTTP listener is already served, sealed
		gate.ServeUnsealed(httpHandler)
		httpsSrv.Handler = gate.Wrap(httpsSrv.Handler)
	} else {
		httpSrv.Handler = logRequests(a.log, httpHandler)
		serveOn(g, httpSrv, httpLn, a.log)
	}
	for _, fe := range fronts {
		g.Go(func() error { return fe.Run(runCtx) })
	}
	g.Go(func() error { certs.Run(runCtx, time.Hour); return nil })
	serveOn(g, httpsSrv, httpsLn, a.log)

	// Audited before the banner: a banner means the server is up.
	httpsURL := "https://" + httpsLn.Addr().String()
	if err := a.audit(ctx, "serve.start", "server", "ok: "+httpsURL); err != nil {
		return err
	}
	fmt.Fprintf(out, "vccpki is serving\n  HTTPS:  %s\n  HTTP:   http://%s\n", httpsURL, httpLn.Addr())
	for _, l := range banner {
		fmt.Fprintf(out, "  %s\n", l)
	}
	fmt.Fprintf(out, "  public URL in certificates: %s\n  root certificate: %s\n", e.PublicURL(), rootPath)
	err = g.Wait()
	_ = a.audit(context.WithoutCancel(ctx), "serve.stop", "server", "ok")
	a.log.Info("stopped")
	return err
}

// mount registers every front end's routes and returns the HTTP and
// HTTPS handlers and the banner lines. Routes on the HTTP mux are also
// served over HTTPS.
func mount(fronts []frontend.FrontEnd, tc *tls.Config) (httpH, httpsH http.Handler, banner []string) {
	m := frontend.Muxes{HTTP: http.NewServeMux(), HTTPS: http.NewServeMux()}
	m.HTTP.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	m.HTTPS.Handle("/", m.HTTP)
	httpH, httpsH = m.HTTP, m.HTTPS
	for _, fe := range fronts {
		fe.Register(m)
		banner = append(banner, fe.Banner()...)
		if w, ok := fe.(frontend.Wrapper); ok {
			httpH, httpsH = w.Wrap(httpH), w.Wrap(httpsH)
		}
		if t, ok := fe.(frontend.TLSConfigurer); ok {
			t.ConfigureTLS(tc)
		}
	}
	return httpH, httpsH, banner
}

// serveOn serves srv on ln under g; a listener that fails stops the server.
func serveOn(g *errgroup.Group, srv *http.Server, ln net.Listener, log *slog.Logger) {
	g.Go(func() error {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		log.Error("listener failed", "err", err)
		return err
	})
}

// waitUnsealed prints the sealed banner and waits for the first unseal,
// then opens the engine on the gate's Vault. A nil engine with a nil error
// means the server was stopped while sealed.
func (a *app) waitUnsealed(ctx context.Context, g *seal.Gate, pub string, reg prometheus.Registerer, httpLn, httpsLn net.Listener, out io.Writer) (*ca.Engine, error) {
	if err := a.audit(ctx, "serve.start", "server", "ok: sealed, waiting for unseal"); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "vccpki is serving SEALED: only /healthz answers until key holders run 'vccpki unseal'\n  HTTPS:  https://%s (after unseal)\n  HTTP:   http://%s\n  admin socket: %s\n  root certificate: %s\n",
		httpsLn.Addr(), httpLn.Addr(), g.Socket(), filepath.Join(a.cfg.data, "root.pem"))
	if !g.Wait(ctx) {
		a.log.Info("stopped while sealed")
		_ = a.audit(context.WithoutCancel(ctx), "serve.stop", "server", "ok: sealed")
		return nil, nil
	}
	cfg, err := a.caConfig(ctx, pub)
	if err != nil {
		return nil, err
	}
	return ca.Open(ctx, a.store, g.Vault(), a.profiles, cfg, ca.Options{Registerer: reg})
}

func newServer(h http.Handler, log *slog.Logger, tc *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// logRequests logs each request at debug level, without bodies or
// credentials.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "took", time.Since(start))
	})
}
