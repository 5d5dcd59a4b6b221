package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca"
)

// The server renews the certificates it signs with itself (the HTTPS
// certificate in serve.go; here the OCSP responders and the TSA) at start
// and then hourly. A failure is logged and tried again at the next tick:
// renewal starts with a third of the lifetime left, months for these.

// repeat runs fn at once and then every interval until ctx ends.
func repeat(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func renewResponders(ctx context.Context, e *ca.Engine, log *slog.Logger) {
	changed, err := e.RenewOCSPResponders(ctx, "system")
	switch {
	case ctx.Err() != nil:
	case err != nil:
		log.Error("renewing the OCSP responder certificates", "err", err)
	case len(changed) > 0:
		log.Info("new OCSP responder certificates", "issuers", strings.Join(changed, ", "))
	}
}

func renewTSA(ctx context.Context, e *ca.Engine, log *slog.Logger) {
	renewed, err := e.RenewTSA(ctx, "system")
	switch {
	case ctx.Err() != nil:
	case err != nil:
		log.Error("renewing the TSA certificate", "err", err)
	case renewed:
		log.Info("new TSA certificate")
	}
}
