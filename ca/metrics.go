package ca

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca/caerr"
)

type metrics struct {
	issued     *prometheus.CounterVec
	refused    *prometheus.CounterVec
	issueTime  prometheus.Histogram
	revoked    *prometheus.CounterVec
	signatures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vccpki_certificates_issued_total", Help: "Certificates issued, by profile.",
		}, []string{"profile"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vccpki_issuance_refused_total", Help: "Issuances refused or failed, by profile and error kind.",
		}, []string{"profile", "kind"}),
		issueTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vccpki_issuance_seconds", Help: "Time from CSR to recorded certificate.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vccpki_certificates_revoked_total", Help: "Certificates revoked, by reason.",
		}, []string{"reason"}),
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vccpki_signatures_total", Help: "Signatures made with CA keys, by purpose, signer and result.",
		}, []string{"purpose", "signer", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.issued, m.refused, m.issueTime, m.revoked, m.signatures)
	}
	return m
}

func (m *metrics) observeIssue(profile string, err error, d time.Duration) {
	if err != nil {
		m.refused.WithLabelValues(profile, caerr.KindOf(err).Error()).Inc()
		return
	}
	m.issued.WithLabelValues(profile).Inc()
	m.issueTime.Observe(d.Seconds())
}

func (m *metrics) signature(purpose, signer string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.signatures.WithLabelValues(purpose, signer, result).Inc()
}
