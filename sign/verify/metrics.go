package verify

import "github.com/prometheus/client_golang/prometheus"

// Verifications counts verifications by result ("ok" or a Kind's name,
// "error" for an error that is not a refusal). Register it where the
// embedding service serves its metrics.
var Verifications = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "vccpki_verifications_total",
	Help: "Artifact signature verifications, by result.",
}, []string{"result"})

func observe(err error) {
	switch k, ok := KindOf(err); {
	case err == nil:
		Verifications.WithLabelValues("ok").Inc()
	case ok:
		Verifications.WithLabelValues(k.String()).Inc()
	default:
		Verifications.WithLabelValues("error").Inc()
	}
}
