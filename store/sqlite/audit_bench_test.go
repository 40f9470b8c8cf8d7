package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pacsd/audit"
)

// BenchmarkAuditAppend is the store's throughput in events per second for batches of
// different sizes (one transaction, one fsync each): a batch of 1 is every request
// writing its own event, the larger ones what the Recorder's group commit does under load.
func BenchmarkAuditAppend(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprint("batch=", n), func(b *testing.B) {
			st, _ := openAuditDB(b)
			batch := make([]audit.Event, n)
			at := time.Now()
			for i := range batch {
				batch[i] = audit.Event{Time: at, Actor: audit.User(7, "li.na", "10.0.0.7"), Action: audit.ActionImageView,
					PatientID: "P0001", PatientName: "Zhang^Wei=张^伟", StudyUID: "1.2.840.99", Object: fmt.Sprint("1.2.840.99.1.", i)}
			}
			ctx := context.Background()
			for b.Loop() {
				if err := st.Append(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
