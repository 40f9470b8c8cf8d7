package store_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"pacsd/internal/pgtest"
	"pacsd/store"
	"pacsd/store/s3/miniotest"
)

// BenchmarkClusterPut is the price of cluster mode: Put over a PostgreSQL index and a MinIO
// bucket on this machine, writing back (acknowledged once local, uploaded later) and
// writing through (uploaded before the acknowledgement), one sender and four at once.
// ack_p50_ms and ack_p99_ms are one Put's time to its acknowledgement, objects/s the rate
// of acknowledgements; for the write-back, drain_ms is how long the uploads take after
// the last acknowledgement and bucket_objects/s the rate counting them (until the bucket
// holds everything). Run with a fixed count (-benchtime=200x): the objects are made first.
func BenchmarkClusterPut(b *testing.B) {
	srv := miniotest.Start(b)
	for _, size := range []struct {
		name   string
		pixels int
	}{{"64KiB", 64 << 10}, {"512KiB", 512 << 10}} {
		for _, through := range []bool{false, true} {
			for _, senders := range []int{1, 4} {
				mode := "writeback"
				if through {
					mode = "writethrough"
				}
				name := fmt.Sprintf("%s/%s/senders=%d", size.name, mode, senders)
				b.Run(name, func(b *testing.B) {
					benchClusterPut(b, srv, size.pixels, through, senders)
				})
			}
		}
	}
}

var benchBuckets atomic.Int64

func benchClusterPut(b *testing.B, srv *miniotest.Server, pixels int, through bool, senders int) {
	bucket := fmt.Sprintf("bench-%d", benchBuckets.Add(1))
	n := newNode(b, pgtest.DB(b), srv, bucket, store.UploadConfig{WriteThrough: through, LocalBudget: -1})
	objs := make([][]byte, b.N)
	for i := range objs {
		objs[i] = obj{study: "1.2.826.0.8.1", series: "1.2.826.0.8.1.1",
			sop: fmt.Sprintf("1.2.826.0.8.1.1.%d", i+1), pixels: pixels, fill: byte(i)}.bytes()
	}
	ctx := context.Background()
	var next atomic.Int64
	took := make([]time.Duration, b.N)
	put := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(objs) {
				return
			}
			start := time.Now()
			if _, err := n.a.Put(ctx, bytes.NewReader(objs[i]), store.PutRequest{}); err != nil {
				b.Error(err)
				return
			}
			took[i] = time.Since(start)
		}
	}
	b.SetBytes(int64(len(objs[0])))
	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{})
	for range senders {
		go func() { put(); done <- struct{}{} }()
	}
	for range senders {
		<-done
	}
	acked := time.Since(start)
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ack_p50_ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "ack_p99_ms")
	b.ReportMetric(float64(b.N)/acked.Seconds(), "objects/s")
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := n.a.Drain(dctx); err != nil {
		b.Fatal(err)
	}
	if !through {
		all := time.Since(start)
		b.ReportMetric(float64((all - acked).Milliseconds()), "drain_ms")
		b.ReportMetric(float64(b.N)/all.Seconds(), "bucket_objects/s")
	}
	if st := n.a.SpoolStats(); st.UploadedObjects != int64(b.N) {
		b.Fatalf("uploaded %d of %d", st.UploadedObjects, b.N)
	}
}
