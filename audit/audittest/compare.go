package audittest

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"pacsd/internal/cputime"
)

// CompareOnOff is the measurement of the audit benchmarks (the cost of the trail on a
// path): each iteration of b is a pair of blocks, one with the trail off and one with it
// on, in alternating order (off first, then on first, ...), so that load that comes and
// goes on a shared machine weighs on both sides alike. run does one side's block and says
// how many operations it did; settle, called after an audit-on block (Recorder.Flush), is
// counted in that block's CPU time but not in its wall time. It reports each side's process
// CPU time per operation (client, server and writer), cpu-delta-% (on against off, over all
// pairs), cpu-delta-median-% (the median pair's: steadier when load comes in bursts) and
// wall-delta-% (time per operation, settle left out).
func CompareOnOff(b *testing.B, run func(on bool) int, settle func()) {
	var wall, cpu [2]time.Duration
	var ops [2]int
	var ratios []float64 // per pair: on's CPU per operation over off's
	pair := 0
	for b.Loop() {
		var per [2]float64
		for k := range 2 {
			side := (pair + k) % 2
			// Each block starts from a collected heap, so that a collection the previous
			// block's garbage made due is not charged to this one.
			runtime.GC()
			c0, t0 := cputime.Process(), time.Now()
			n := run(side == 1)
			w := time.Since(t0)
			if side == 1 {
				settle()
			}
			c := cputime.Process() - c0
			wall[side] += w
			cpu[side] += c
			ops[side] += n
			per[side] = float64(c) / float64(max(n, 1))
		}
		ratios = append(ratios, per[1]/per[0])
		pair++
	}
	if pair == 0 || ops[0] == 0 || ops[1] == 0 {
		return
	}
	perOp := func(d time.Duration, n int) float64 { return float64(d) / float64(n) }
	b.ReportMetric(perOp(cpu[0], ops[0])/1e3, "off-cpu-us/op")
	b.ReportMetric(perOp(cpu[1], ops[1])/1e3, "on-cpu-us/op")
	b.ReportMetric(100*(perOp(cpu[1], ops[1])/perOp(cpu[0], ops[0])-1), "cpu-delta-%")
	slices.Sort(ratios)
	b.ReportMetric(100*(ratios[len(ratios)/2]-1), "cpu-delta-median-%")
	b.ReportMetric(100*(perOp(wall[1], ops[1])/perOp(wall[0], ops[0])-1), "wall-delta-%")
}
