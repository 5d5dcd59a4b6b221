package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vcc/vccpki/internal/frontend"
)

// The metrics name every fleet service with its coverage and expiry:
// reconnaissance for whoever can read them. So they are served on a
// listener of their own (metrics.addr, --metrics-addr; loopback by
// default), never on the public HTTP and HTTPS listeners.

const (
	defaultMetricsAddr = "127.0.0.1:9190" // not 9090: that is Prometheus's own port
	metricsOff         = "off"
)

// metricsServer serves /metrics from reg on its own listener; it is a
// front end without routes on the public muxes.
type metricsServer struct {
	ln  net.Listener // nil when off
	srv *http.Server
	log *slog.Logger
}

var _ frontend.FrontEnd = (*metricsServer)(nil)

// listenMetrics binds addr; "off" serves no metrics.
func listenMetrics(addr string, reg prometheus.Gatherer, log *slog.Logger) (*metricsServer, error) {
	if addr == metricsOff {
		return &metricsServer{}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener (metrics.addr, --metrics-addr; %q turns it off): %w", metricsOff, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &metricsServer{ln: ln, srv: newServer(mux, log, nil), log: log}, nil
}

func (m *metricsServer) Register(frontend.Muxes) {}

// Banner says where the metrics are, or that they are off.
func (m *metricsServer) Banner() []string {
	if m.ln == nil {
		return []string{"Metrics          off (metrics.addr: off)"}
	}
	return []string{"Metrics          http://" + m.ln.Addr().String() + "/metrics (own listener)"}
}

// Run serves until ctx ends, then waits for scrapes in flight.
func (m *metricsServer) Run(ctx context.Context) error {
	if m.ln == nil {
		return frontend.Idle(ctx)
	}
	served := make(chan error, 1)
	go func() { served <- m.srv.Serve(m.ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("metrics listener: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(shutdownCtx); err != nil {
		m.log.Warn("shutdown", "err", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics listener: %w", err)
	}
	return nil
}

// close closes a listener that was never served.
func (m *metricsServer) close() {
	if m.ln != nil {
		m.ln.Close()
	}
}
