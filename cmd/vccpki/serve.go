package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vcc/vccpki/ca"
)

func runServe(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("serve", "[--config FILE] [flags]", out)
	httpsAddr := fs.String("https-addr", "", "HTTPS listen address (default 127.0.0.1:8443)")
	httpAddr := fs.String("http-addr", "", "HTTP listen address for OCSP, CRLs and CA certificates (default 127.0.0.1:8080)")
	publicURL := fs.String("public-url", "", "base of the OCSP, CRL and caIssuers URLs in certificates (default http:// + the HTTP listen address)")
	metricsAddr := fs.String("metrics-addr", "", "listen address of /metrics, its own listener (default "+defaultMetricsAddr+"; off to serve none)")
	vaDNS := fs.String("va-dns", "", "DNS server HOST:PORT the ACME validator asks")
	vaHTTP := fs.Int("va-http-port", 0, "port the ACME validator uses for http-01 (default 80)")
	vaTLS := fs.Int("va-tls-port", 0, "port the ACME validator uses for tls-alpn-01 (default 443)")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	c := a.cfg
	override := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	override(&c.httpsAddr, *httpsAddr)
	override(&c.httpAddr, *httpAddr)
	pubSource := "public_url in " + c.file
	if *publicURL != "" {
		if c.publicURL, err = ca.NormalizePublicURL(*publicURL); err != nil {
			return &exitError{2, "--public-url: " + err.Error()}
		}
		pubSource = "--public-url"
	}
	if err := a.refuseOtherPublicURL(ctx, c.publicURL, pubSource); err != nil {
		return err
	}
	override(&c.metrics, *metricsAddr)
	override(&c.va.DNS, *vaDNS)
	if *vaHTTP != 0 {
		c.va.HTTPPort = *vaHTTP
	}
	if *vaTLS != 0 {
		c.va.TLSPort = *vaTLS
	}

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
	metrics, err := listenMetrics(c.metrics, reg, a.log)
	if err != nil {
		return err
	}
	defer metrics.shutdown(context.WithoutCancel(ctx))
	// A key store split into shares starts sealed (unseal_server.go).
	seal, err := a.startSealed(ctx, httpLn)
	if err != nil {
		return err
	}
	var e *ca.Engine
	var created bool
	if seal != nil {
		defer seal.close(context.WithoutCancel(ctx))
		if e, err = a.waitUnsealed(ctx, seal, pub, reg, httpsLn, out); e == nil {
			return err
		}
	} else {
		e, created, err = a.engine(ctx, pub, true, reg)
	}
	if err != nil {
		return err
	}
	if created {
		a.log.Info("created the CA hierarchy", "data", c.data)
	}
	rootPath, err := a.writeRoot(e)
	if err != nil {
		return err
	}
	certs, err := newHTTPSCert(ctx, e, a.log)
	if err != nil {
		return err
	}
	go certs.renewLoop(ctx, time.Hour)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /ca/{file}", caCertHandler(e))
	mux.Handle("GET /root.pem", caCertHandler(e))
	// Protocol front ends mount here, each from its own file, and add a
	// line to the banner.
	banner := []string{"CA certificates  http://" + httpLn.Addr().String() + "/ca/<issuer>.crt", metrics.bannerLine()}
	// Front ends served over HTTPS only (ACME, EST) mount on httpsMux,
	// which also serves everything mux does.
	httpsMux := http.NewServeMux()
	httpsMux.Handle("/", mux)
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	if seal != nil {
		tlsConfig.GetCertificate = seal.getCertificate(certs.get)
	}
	acmeLine, err := mountACME(ctx, a, e, c, httpsMux, httpsLn.Addr().String(), seal)
	if err != nil {
		return err
	}
	banner = append(banner, acmeLine)
	estLine, err := mountEST(ctx, a, e, httpsMux, tlsConfig, httpsLn.Addr().String())
	if err != nil {
		return err
	}
	banner = append(banner, estLine)
	if err := mountTSA(ctx, a, e, mux, &banner, httpLn.Addr().String()); err != nil {
		return err
	}
	stopOCSP, ocspGET := mountOCSP(ctx, a, e, mux, reg, &banner, httpLn.Addr().String())
	defer stopOCSP()
	if err := mountFleet(ctx, a, e, reg, &banner); err != nil {
		return err
	}

	servers := []*http.Server{
		newServer(logRequests(a.log, ocspGET(mux)), a.log, nil),
		newServer(logRequests(a.log, ocspGET(httpsMux)), a.log, tlsConfig),
	}
	if seal != nil { // the HTTP listener is already served, sealed
		seal.serveUnsealed(ocspGET(mux))
		servers[0] = seal.early
		servers[1].Handler = seal.wrap(servers[1].Handler)
	}
	httpsURL := "https://" + httpsLn.Addr().String()
	fmt.Fprintf(out, "vccpki is serving\n  HTTPS:  %s\n  HTTP:   http://%s\n", httpsURL, httpLn.Addr())
	for _, l := range banner {
		fmt.Fprintf(out, "  %s\n", l)
	}
	fmt.Fprintf(out, "  public URL in certificates: %s\n  root certificate: %s\n", e.PublicURL(), rootPath)
	if err := a.audit(ctx, "serve.start", "server", "ok: "+httpsURL); err != nil {
		return err
	}

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		metrics.serve(errc)
	}()
	for i, ln := range []net.Listener{httpLn, httpsLn} {
		srv := servers[i]
		if srv == seal.earlyServer() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down: finishing requests in flight")
	case serveErr = <-errc:
		a.log.Error("listener failed", "err", serveErr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			a.log.Warn("shutdown", "err", err)
		}
	}
	if err := metrics.shutdown(shutdownCtx); err != nil {
		a.log.Warn("shutdown", "err", err)
	}
	wg.Wait()
	_ = a.audit(context.WithoutCancel(ctx), "serve.stop", "server", "ok")
	a.log.Info("stopped")
	return serveErr
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

// caCertHandler serves the hierarchy's CA certificates: /ca/<name>.crt as
// DER (application/pkix-cert, RFC 2585 §4.1, what caIssuers URLs point
// at), /ca/<name>.pem as PEM, and /root.pem.
func caCertHandler(e *ca.Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		if r.URL.Path == "/root.pem" {
			file = ca.RootCA + ".pem"
		}
		name, ext, _ := strings.Cut(file, ".")
		cert, ok := e.CACert(name)
		if !ok || (name != ca.RootCA && !isIssuingCA(name)) || (ext != "crt" && ext != "pem") {
			http.Error(w, "no such CA certificate; try /ca/root.crt, /ca/services.crt or /ca/code-signing.crt", http.StatusNotFound)
			return
		}
		body, ctype := cert.Raw, "application/pkix-cert"
		if ext == "pem" {
			body, ctype = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), "application/x-pem-file"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Write(body)
	})
}

func isIssuingCA(name string) bool {
	for _, n := range ca.IssuingCAs {
		if n == name {
			return true
		}
	}
	return false
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

// httpsCert holds the server's certificate and renews it while the server
// runs, so that a long-running server never presents an expired one.
type httpsCert struct {
	engine  *ca.Engine
	log     *slog.Logger
	current atomic.Pointer[tls.Certificate]
}

func newHTTPSCert(ctx context.Context, e *ca.Engine, log *slog.Logger) (*httpsCert, error) {
	h := &httpsCert{engine: e, log: log}
	return h, h.renew(ctx)
}

func (h *httpsCert) renew(ctx context.Context) error {
	renewed, err := h.engine.RenewHTTPS(ctx, "system")
	if err != nil {
		return fmt.Errorf("renewing the HTTPS certificate: %w", err)
	}
	if renewed {
		h.log.Info("issued a new HTTPS certificate")
	}
	if renewed || h.current.Load() == nil {
		c, err := h.engine.TLSCertificate(ctx)
		if err != nil {
			return err
		}
		h.current.Store(c)
	}
	return nil
}

func (h *httpsCert) renewLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := h.renew(ctx); err != nil {
				h.log.Error("HTTPS certificate", "err", err)
			}
		}
	}
}

func (h *httpsCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return h.current.Load(), nil
}
