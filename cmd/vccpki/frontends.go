package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/cacerts"
	"github.com/vcc/vccpki/internal/frontend"
	"github.com/vcc/vccpki/ocsp"
	"github.com/vcc/vccpki/seal"
	"github.com/vcc/vccpki/tsa"
)

// frontEnds builds every front end serve runs, in banner order.
func (a *app) frontEnds(ctx context.Context, e *ca.Engine, gate *seal.Gate, reg prometheus.Registerer, metrics *metricsServer, httpAddr, httpsAddr string) ([]frontend.FrontEnd, error) {
	acmeFE, err := a.acmeFrontEnd(ctx, e, gate, httpsAddr)
	if err != nil {
		return nil, err
	}
	estFE, err := a.estFrontEnd(e, httpsAddr)
	if err != nil {
		return nil, err
	}
	tsaFE, err := tsa.NewFrontEnd(ctx, e, a.store, a.cfg.tsa, a.log, httpAddr)
	if err != nil {
		return nil, err
	}
	oc := a.cfg.ocsp
	oc.Log = a.log
	oc.Registerer = reg
	oc.Shared, oc.SharedCRLs = sharedOCSP(a) // store.go: instances on PostgreSQL sign once between them
	ocspFE := ocsp.NewFrontEnd(e, oc, httpAddr)
	fleetFE, err := a.fleetFrontEnd(e, reg)
	if err != nil {
		return nil, err
	}
	fes := []frontend.FrontEnd{&cacerts.FrontEnd{Engine: e, HTTPAddr: httpAddr}, &caRefresher{e: e, log: a.log, every: 10 * time.Second, rootWarn: a.cfg.rootCRLWarnBefore()}, metrics, acmeFE, estFE, tsaFE, ocspFE, fleetFE}
	apiFE, err := a.apiFrontEnd(ctx, e, fleetFE, httpsAddr)
	if err != nil {
		return nil, err
	}
	if apiFE != nil {
		fes = append(fes, apiFE)
		// POST /api/v1/sign signs with the server-held keys: renewed ahead.
		fes = append(fes, &signKeysRenewal{engine: e, log: a.log})
	}
	return fes, nil
}
