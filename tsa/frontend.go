package tsa

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/vcc/vccpki/internal/frontend"
	"github.com/vcc/vccpki/store"
)

// Engine is what the TSA front end needs of the CA engine.
type Engine interface {
	Stamper
	EnableTimestamps(ctx context.Context, records store.TimestampStore) error
	RenewTSA(ctx context.Context, actor string) (bool, error)
}

// FrontEnd serves RFC 3161 time-stamps at POST /tsa (on both listeners,
// like every HTTP route) and renews the TSA certificate hourly.
type FrontEnd struct {
	engine   Engine
	h        *Handler // nil when not served
	err      error    // why not
	log      *slog.Logger
	httpAddr string
}

var _ frontend.FrontEnd = (*FrontEnd)(nil)

// NewFrontEnd enables time-stamps on the engine. A hierarchy whose TSA key
// cannot sign tokens (Ed25519) is served without /tsa, with the reason in
// the banner and the log, rather than not at all.
func NewFrontEnd(ctx context.Context, e Engine, records store.TimestampStore, cfg Config, log *slog.Logger, httpAddr string) (*FrontEnd, error) {
	f := &FrontEnd{engine: e, log: log, httpAddr: httpAddr}
	if f.err = e.EnableTimestamps(ctx, records); f.err != nil {
		log.Error("time-stamps are not served", "err", f.err)
		return f, nil
	}
	h, err := New(e, cfg, log)
	if err != nil {
		return nil, err
	}
	f.h = h
	return f, nil
}

// Register implements frontend.FrontEnd.
func (f *FrontEnd) Register(m frontend.Muxes) {
	if f.h != nil {
		m.HTTP.Handle("POST /tsa", f.h)
	}
}

// Banner implements frontend.FrontEnd.
func (f *FrontEnd) Banner() []string {
	if f.h == nil {
		return []string{"Time-stamps      not served: " + f.err.Error()}
	}
	return []string{fmt.Sprintf("Time-stamps      http://%s/tsa (RFC 3161, policy %s)", f.httpAddr, f.h.DefaultPolicy())}
}

// Run renews the TSA certificate at start and then hourly.
func (f *FrontEnd) Run(ctx context.Context) error {
	if f.h == nil {
		return frontend.Idle(ctx)
	}
	frontend.Repeat(ctx, time.Hour, func() {
		renewed, err := f.engine.RenewTSA(ctx, "system")
		switch {
		case ctx.Err() != nil:
		case err != nil:
			f.log.Error("renewing the TSA certificate", "err", err)
		case renewed:
			f.log.Info("new TSA certificate")
		}
	})
	return nil
}
