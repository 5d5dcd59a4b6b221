package ca

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// ServerCert holds the server's HTTPS certificate and renews it while the
// server runs, so that a long-running server never presents an expired one.
type ServerCert struct {
	engine  *Engine
	log     *slog.Logger
	current atomic.Pointer[tls.Certificate]
}

// NewServerCert renews the HTTPS certificate if due and loads it.
func NewServerCert(ctx context.Context, e *Engine, log *slog.Logger) (*ServerCert, error) {
	s := &ServerCert{engine: e, log: log}
	return s, s.renew(ctx)
}

func (s *ServerCert) renew(ctx context.Context) error {
	renewed, err := s.engine.RenewHTTPS(ctx, "system")
	if err != nil {
		return fmt.Errorf("renewing the HTTPS certificate: %w", err)
	}
	if renewed {
		s.log.Info("issued a new HTTPS certificate")
	}
	if renewed || s.current.Load() == nil {
		c, err := s.engine.TLSCertificate(ctx)
		if err != nil {
			return err
		}
		s.current.Store(c)
	}
	return nil
}

// Run renews every interval until ctx ends; failures are logged and tried
// again at the next tick (renewal starts with a third of the lifetime left).
func (s *ServerCert) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.renew(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("HTTPS certificate", "err", err)
			}
		}
	}
}

// Get is tls.Config.GetCertificate.
func (s *ServerCert) Get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.current.Load(), nil
}
