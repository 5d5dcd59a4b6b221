// Package benchutil holds what the benchmarks of several packages measure
// the same way: the CPU time this process has used.
package benchutil

import (
	"syscall"
	"time"
)

// CPUTime is the user plus system CPU time of this process so far. The
// difference over a run, divided by its operations, is a figure that other
// load on the machine disturbs far less than operations per second.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
