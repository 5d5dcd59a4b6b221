package ocsp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vcc/vccpki/internal/frontend"
)

// Renewer renews the delegated responder certificates the server signs
// with itself.
type Renewer interface {
	Engine
	RenewOCSPResponders(ctx context.Context, actor string) ([]string, error)
}

// FrontEnd serves OCSP and the CRLs in vccpki serve, on the HTTP and the
// HTTPS listener alike, and renews the responder certificates hourly.
type FrontEnd struct {
	engine   Renewer
	r        *Responder // nil when not served
	err      error      // why not
	log      *slog.Logger
	httpAddr string
}

var (
	_ frontend.FrontEnd = (*FrontEnd)(nil)
	_ frontend.Wrapper  = (*FrontEnd)(nil)
)

// NewFrontEnd builds the responder. A hierarchy without responder
// certificates is served without OCSP and CRLs, with the reason in the
// banner and the log, rather than not at all (the configuration was
// checked when it was loaded).
func NewFrontEnd(e Renewer, cfg Config, httpAddr string) *FrontEnd {
	f := &FrontEnd{engine: e, log: cfg.Log, httpAddr: httpAddr}
	if f.log == nil {
		f.log = slog.Default()
	}
	f.r, f.err = New(e, cfg)
	if f.err != nil {
		f.log.Error("OCSP and CRLs are NOT served", "err", f.err)
	}
	return f
}

// Register implements frontend.FrontEnd.
func (f *FrontEnd) Register(m frontend.Muxes) {
	if f.r != nil {
		f.r.Register(m.HTTP)
	}
}

// Wrap answers GET /ocsp/<base64> in front of a listener's mux.
func (f *FrontEnd) Wrap(h http.Handler) http.Handler {
	if f.r == nil {
		return h
	}
	return f.r.Handler(h)
}

// Banner implements frontend.FrontEnd.
func (f *FrontEnd) Banner() []string {
	if f.r == nil {
		return []string{"OCSP, CRLs       not served: " + f.err.Error()}
	}
	base := "http://" + f.httpAddr
	shards := ""
	if n := f.engine.CRLShards(); n > 0 {
		shards = fmt.Sprintf(", shards /crl/<issuer>/<1..%d>.crl", n)
	}
	return []string{
		"OCSP             " + base + "/ocsp (POST; GET /ocsp/<base64>)",
		"CRLs             " + base + "/crl/<issuer>.crl" + shards,
	}
}

// Run pre-signs and refreshes responses and CRLs, and renews the responder
// certificates (at start, then hourly), until ctx ends.
func (f *FrontEnd) Run(ctx context.Context) error {
	if f.r == nil {
		return frontend.Idle(ctx)
	}
	var wg sync.WaitGroup
	wg.Go(func() { f.r.Run(ctx) })
	wg.Go(func() { frontend.Repeat(ctx, time.Hour, func() { f.renew(ctx) }) })
	wg.Wait()
	return nil
}

func (f *FrontEnd) renew(ctx context.Context) {
	changed, err := f.engine.RenewOCSPResponders(ctx, "system")
	switch {
	case ctx.Err() != nil:
	case err != nil:
		f.log.Error("renewing the OCSP responder certificates", "err", err)
	case len(changed) > 0:
		f.log.Info("new OCSP responder certificates", "issuers", strings.Join(changed, ", "))
	}
}
