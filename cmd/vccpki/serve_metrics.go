package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metrics name every fleet service with its coverage and expiry:
// reconnaissance for whoever can read them. So they are served on a
// listener of their own (metrics.addr, --metrics-addr; loopback by
// default), never on the public HTTP and HTTPS listeners.

const (
	defaultMetricsAddr = "127.0.0.1:9190" // not 9090: that is Prometheus's own port
	metricsOff         = "off"
)

// metricsServer serves /metrics from reg on its own listener.
type metricsServer struct {
	ln  net.Listener
	srv *http.Server
}

// listenMetrics binds addr; "off" gives a nil server (no metrics served).
func listenMetrics(addr string, reg prometheus.Gatherer, log *slog.Logger) (*metricsServer, error) {
	if addr == metricsOff {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener (metrics.addr, --metrics-addr; %q turns it off): %w", metricsOff, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &metricsServer{ln: ln, srv: newServer(mux, log, nil)}, nil
}

// bannerLine says where the metrics are, or that they are off.
func (m *metricsServer) bannerLine() string {
	if m == nil {
		return "Metrics          off (metrics.addr: off)"
	}
	return "Metrics          http://" + m.ln.Addr().String() + "/metrics (own listener)"
}

// serve runs until the server is shut down; other errors go to errc.
func (m *metricsServer) serve(errc chan<- error) {
	if m == nil {
		return
	}
	if err := m.srv.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
		errc <- fmt.Errorf("metrics listener: %w", err)
	}
}

// shutdown stops serving, waiting for scrapes in flight; it also closes a
// listener that was never served.
func (m *metricsServer) shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	err := m.srv.Shutdown(ctx)
	m.ln.Close()
	return err
}
