package store_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"pacsd/store"
)

// BenchmarkArchivePut measures the whole ingest path (spool, hash, header parse, fsync'd
// blob, committed index row) for a small object (a report, a US frame) and a 15 MB one (a
// DR image), and small objects from many goroutines (group commit at work).
func BenchmarkArchivePut(b *testing.B) {
	for _, bc := range []struct {
		name     string
		pixels   int
		parallel bool
	}{
		{"small_64KiB", 64 << 10, false},
		{"dr_15MB", 15 << 20, false},
		{"small_64KiB_parallel", 64 << 10, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b)
			// One template; each Put patches a fixed-width counter into its SOP UID.
			const placeholder = "99999999"
			tmpl := obj{sop: "1.2.826.0.1.1.1." + placeholder, pixels: bc.pixels}.bytes()
			var at []int
			for i := 0; ; {
				j := bytes.Index(tmpl[i:], []byte(placeholder))
				if j < 0 {
					break
				}
				at = append(at, i+j)
				i += j + len(placeholder)
			}
			object := func(n int64) []byte {
				data := bytes.Clone(tmpl)
				s := fmt.Sprintf("%08d", n)
				for _, p := range at {
					copy(data[p:], s)
				}
				return data
			}
			var counter atomic.Int64
			ctx := context.Background()
			b.SetBytes(int64(len(tmpl)))
			b.ResetTimer()
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := e.a.Put(ctx, bytes.NewReader(object(counter.Add(1))), store.PutRequest{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			for b.Loop() {
				data := object(counter.Add(1))
				if _, err := e.a.Put(ctx, bytes.NewReader(data), store.PutRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
