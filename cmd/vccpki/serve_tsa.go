package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/tsa"
)

// mountTSA serves RFC 3161 time-stamps at POST /tsa (on both listeners,
// like every HTTP route) and adds the banner line.
func mountTSA(ctx context.Context, a *app, e *ca.Engine, mux *http.ServeMux, banner *[]string, httpAddr string) error {
	records, ok := a.store.(store.TimestampStore)
	if !ok {
		return fmt.Errorf("the store cannot record time-stamps")
	}
	if err := e.EnableTimestamps(ctx, records); err != nil {
		return fmt.Errorf("time-stamping: %w", err)
	}
	h, err := tsa.New(e, a.cfg.tsa, a.log)
	if err != nil {
		return err
	}
	mux.Handle("POST /tsa", h)
	*banner = append(*banner, fmt.Sprintf("Time-stamps      http://%s/tsa (RFC 3161, policy %s)", httpAddr, h.DefaultPolicy()))
	return nil
}
