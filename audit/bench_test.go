package audit_test

import (
	"context"
	"testing"
	"time"

	"pacsd/audit"
)

// discard is a store that keeps nothing: the Recorder's own cost, without the disk's.
type discard struct{}

func (discard) Append(context.Context, []audit.Event) error { return nil }
func (discard) Search(context.Context, audit.Filter) (audit.Page, error) {
	return audit.Page{}, nil
}
func (discard) Purge(context.Context, time.Time) (int64, error) { return 0, nil }

// BenchmarkRecord is what recording costs a request, from parallel callers: through the
// Recorder (to a store that keeps nothing, and to SQLite: the cost while the writer keeps
// up, the store's speed once the buffer is full), beside the reference of each request
// appending its own event to SQLite.
func BenchmarkRecord(b *testing.B) {
	e := viewEvent
	e.Time = time.Time{}
	for _, bc := range []struct {
		name  string
		store func(b *testing.B) audit.Store
	}{
		{"recorder-discard", func(*testing.B) audit.Store { return discard{} }},
		{"recorder-sqlite", func(b *testing.B) audit.Store { return openStore(b) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := audit.New(bc.store(b), audit.Config{})
			go r.Run()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					r.Record(ctx, e)
				}
			})
			b.StopTimer()
			r.Close()
		})
	}
	b.Run("append-each-sqlite", func(b *testing.B) {
		st := openStore(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				ev := e
				ev.Time = time.Now()
				if err := st.Append(ctx, []audit.Event{ev}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
