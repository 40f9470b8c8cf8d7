package cputime

import (
	"crypto/sha256"
	"testing"
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
