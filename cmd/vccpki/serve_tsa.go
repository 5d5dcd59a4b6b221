package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/tsa"
)

// mountTSA serves RFC 3161 time-stamps at POST /tsa (on both listeners,
// like every HTTP route) and adds the banner line. A hierarchy whose TSA
// key cannot sign tokens (Ed25519) is served without /tsa, with the reason
// in the banner and the log, rather than not at all.
func mountTSA(ctx context.Context, a *app, e *ca.Engine, mux *http.ServeMux, banner *[]string, httpAddr string) error {
	records := a.store
	if err := e.EnableTimestamps(ctx, records); err != nil {
		a.log.Error("time-stamps are not served", "err", err)
		*banner = append(*banner, "Time-stamps      not served: "+err.Error())
		return nil
	}
	h, err := tsa.New(e, a.cfg.tsa, a.log)
	if err != nil {
		return err
	}
	mux.Handle("POST /tsa", h)
	go repeat(ctx, time.Hour, func() { renewTSA(ctx, e, a.log) })
	*banner = append(*banner, fmt.Sprintf("Time-stamps      http://%s/tsa (RFC 3161, policy %s)", httpAddr, h.DefaultPolicy()))
	return nil
}
