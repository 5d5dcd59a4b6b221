package fleet

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports the latest Report as Prometheus metrics. Values come
// from the last discovery, never from a scrape: a scrape costs nothing.
type Metrics struct {
	mu   sync.Mutex
	last *Report

	covered, days, notCovered, services, when, took *prometheus.Desc
}

// NewMetrics makes the collector; register it on the server's registry.
func NewMetrics() *Metrics {
	return &Metrics{
		covered: prometheus.NewDesc("vccpki_fleet_service_covered",
			"1 when every endpoint of the service presents a valid, unrevoked certificate of this CA from its profile, within its renewal window.", []string{"service", "profile"}, nil),
		days: prometheus.NewDesc("vccpki_fleet_service_expiry_days",
			"Days until the soonest-expiring certificate a service's endpoints present (negative once expired).", []string{"service"}, nil),
		notCovered: prometheus.NewDesc("vccpki_fleet_services_not_covered", "Services of the registry that need action.", nil, nil),
		services:   prometheus.NewDesc("vccpki_fleet_services", "Services in the registry.", nil, nil),
		when:       prometheus.NewDesc("vccpki_fleet_discovery_timestamp_seconds", "When the last discovery ran.", nil, nil),
		took:       prometheus.NewDesc("vccpki_fleet_discovery_duration_seconds", "How long the last discovery took.", nil, nil),
	}
}

// Set replaces the report the metrics show.
func (m *Metrics) Set(r *Report) {
	m.mu.Lock()
	m.last = r
	m.mu.Unlock()
}

// Last returns the latest report, or nil before the first discovery.
func (m *Metrics) Last() *Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.covered, m.days, m.notCovered, m.services, m.when, m.took} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	r := m.Last()
	if r == nil {
		return
	}
	for _, s := range r.Services {
		v := 0.0
		if s.Covered {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.covered, prometheus.GaugeValue, v, s.Name, s.Profile)
		if hasCertificate(s) {
			ch <- prometheus.MustNewConstMetric(m.days, prometheus.GaugeValue, s.DaysLeft, s.Name)
		}
	}
	ch <- prometheus.MustNewConstMetric(m.notCovered, prometheus.GaugeValue, float64(r.NotCovered))
	ch <- prometheus.MustNewConstMetric(m.services, prometheus.GaugeValue, float64(len(r.Services)))
	ch <- prometheus.MustNewConstMetric(m.when, prometheus.GaugeValue, float64(r.Time.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(m.took, prometheus.GaugeValue, r.Took.Seconds())
}

func hasCertificate(s ServiceReport) bool {
	for _, e := range s.Endpoints {
		if e.Reachable && e.Origin != OriginNone {
			return true
		}
	}
	return false
}

// Watch runs discovery now and then every interval until ctx ends. One
// discovery at a time: its cost is bounded by the Discoverer's timeout
// and concurrency, whatever the scrape rate.
func (m *Metrics) Watch(ctx context.Context, d *Discoverer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.Set(d.Run(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
