package groupcommit

import "github.com/prometheus/client_golang/prometheus"

// The group commit's metrics, over every queue of the process (vccpki
// serve opens one store). They show whether writes wait for the disk:
// under load the batch size grows while the time per commit, most of it
// the COMMIT's disk flush, stays about the same.
var (
	batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vccpki_store_group_commit_batch_size", Help: "Writes per group-commit transaction.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 9), // 1 to 256, the bound of a batch
	})
	commitTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vccpki_store_group_commit_seconds", Help: "Time of one group-commit transaction, BEGIN to COMMIT and its disk flush.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
	})
	queueTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vccpki_store_group_commit_wait_seconds", Help: "Time a write waits in the queue before its batch's transaction begins.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
	})
)

// Collectors are the group commit's metrics, for the process's registry.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{batchSize, commitTime, queueTime}
}
