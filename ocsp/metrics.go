package ocsp

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	responses  *prometheus.CounterVec
	fromCache  prometheus.Counter
	fromLive   prometheus.Counter
	liveSigned prometheus.Counter
	presigned  prometheus.Counter
	shared     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, r *Responder) *metrics {
	m := &metrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vccpki_ocsp_responses_total",
			Help: "OCSP responses sent, by source (cache, live, error) and OCSP response status.",
		}, []string{"source", "status"}),
		liveSigned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vccpki_ocsp_live_signatures_total", Help: "OCSP responses signed while a client waited.",
		}),
		presigned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vccpki_ocsp_presigned_total", Help: "OCSP responses signed ahead of requests (pre-signing, refresh, changes).",
		}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vccpki_ocsp_presigned_shared_total", Help: "Pre-signed OCSP responses taken from the store, signed by another instance.",
		}),
	}
	// The two hot label sets, resolved once.
	m.fromCache = m.responses.WithLabelValues("cache", successful.String())
	m.fromLive = m.responses.WithLabelValues("live", successful.String())
	if reg != nil {
		entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vccpki_ocsp_cached_responses", Help: "Pre-signed OCSP responses held in memory.",
		}, func() float64 { return float64(r.Stats().Responses) })
		crlBuilds := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vccpki_crl_builds_total", Help: "CRLs built and signed here.",
		}, func() float64 { return float64(r.crls.builds.Load()) })
		crlShared := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vccpki_crl_shared_total", Help: "CRLs taken from the store, built by another instance.",
		}, func() float64 { return float64(r.crls.shared.Load()) })
		reg.MustRegister(m.responses, m.liveSigned, m.presigned, m.shared, entries, crlBuilds, crlShared)
	}
	return m
}

func (m *metrics) count(source string, st responseStatus) {
	switch {
	case source == "cache" && st == successful:
		m.fromCache.Inc()
	case source == "live" && st == successful:
		m.fromLive.Inc()
	default:
		m.responses.WithLabelValues(source, st.String()).Inc()
	}
}
