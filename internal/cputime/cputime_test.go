package cputime

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"
)

func TestProcessGrowsWithWork(t *testing.T) {
	start := Process()
	if start <= 0 {
		t.Fatalf("Process() = %v, want > 0 after the test binary started", start)
	}
	buf := make([]byte, 1<<20)
	for Process()-start == 0 {
		sha256.Sum256(buf) // spin until the kernel's accounting ticks
	}
	if Process() < start {
		t.Fatal("CPU time went backwards")
	}
}

// TestOfReadsProc: /proc's account of this process grows with work as getrusage's does, and
// a process that does not exist has none.
func TestOfReadsProc(t *testing.T) {
	pid := os.Getpid()
	start := Of(pid)
	buf := make([]byte, 1<<20)
	for Of(pid) <= start {
		sha256.Sum256(buf) // spin until the kernel's accounting ticks
	}
	if d := Of(pid) - Process(); d > 100*time.Millisecond || d < -100*time.Millisecond {
		t.Errorf("Of(self) and Process() differ by %v", d)
	}
	if got := Of(-1); got != 0 {
		t.Errorf("Of(-1) = %v, want 0", got)
	}
}
