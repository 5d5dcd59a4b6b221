package sqlstore

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/store/internal/groupcommit"
)

// GroupCommitCollectors are the metrics of both engines' group commit
// (batch size, time per transaction, time a write waits for its batch),
// for the process's registry.
func GroupCommitCollectors() []prometheus.Collector { return groupcommit.Collectors() }
