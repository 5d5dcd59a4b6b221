package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/frontend"
)

// signKeysRenewal renews the server-held signing keys ahead of expiry
// (ca.RenewSigningKeys), at start and hourly like the OCSP responder and
// TSA certificates; it serves no route.
type signKeysRenewal struct {
	engine *ca.Engine
	log    *slog.Logger
}

func (s *signKeysRenewal) Register(frontend.Muxes) {}
func (s *signKeysRenewal) Banner() []string        { return nil }

func (s *signKeysRenewal) Run(ctx context.Context) error {
	frontend.Repeat(ctx, time.Hour, func() {
		renewed, err := s.engine.RenewSigningKeys(ctx, "system")
		switch {
		case ctx.Err() != nil:
		case err != nil:
			s.log.Error("renewing the server-held signing keys", "err", err)
		case len(renewed) > 0:
			s.log.Info("new server-held signing keys", "profiles", strings.Join(renewed, ", "))
		}
	})
	return nil
}
