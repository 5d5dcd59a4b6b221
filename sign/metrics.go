package sign

import "github.com/prometheus/client_golang/prometheus"

// SignaturesCreated counts server-side signatures by signing profile.
// vccpki serve registers it with verify.Verifications.
var SignaturesCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "vccpki_signatures_created_total",
	Help: "Artifact signatures made with server-held keys, by signing profile.",
}, []string{"profile"})
