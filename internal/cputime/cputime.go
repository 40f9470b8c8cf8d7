// Package cputime reads the CPU time the process has used, for benchmarks on a shared
// machine: wall-clock ns/op moves with other people's load, CPU time per operation much
// less, and it counts background goroutines (an audit writer, an index's group commit)
// that a latency figure does not see.
package cputime

import (
	"syscall"
	"time"
)

// Process is the user plus system CPU time of every thread of the process so far; 0 when
// the platform cannot tell.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
