// Package cputime reads the CPU time the process has used, for benchmarks on a shared
// machine: wall-clock ns/op moves with other people's load, CPU time per operation much
// less, and it counts background goroutines (an audit writer, an index's group commit)
// that a latency figure does not see.
package cputime

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
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

// Of is the user plus system CPU time another process (a peer a benchmark started) has used
// so far, from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux); 0
// when it cannot be read.
func Of(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
