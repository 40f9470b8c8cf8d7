package backlog

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"pacsd/store"
)

func inst(study, series, sop string) *store.Instance {
	return &store.Instance{StudyInstanceUID: study, SeriesInstanceUID: series, SOPInstanceUID: sop}
}

// TestOverflowKeepsSeries fills the queue and checks that nothing is forgotten: the
// queued instances come first, in order, then each overflowed series once.
func TestOverflowKeepsSeries(t *testing.T) {
	q := New(3)
	ctx := context.Background()
	for i := range 3 {
		q.Add(inst("1.1", "1.1.1", fmt.Sprint(i)))
	}
	// Overflow: 10 instances of two series, interleaved; a third series after them.
	for i := range 10 {
		q.Add(inst("1.1", fmt.Sprintf("1.1.%d", 2+i%2), fmt.Sprint(10+i)))
	}
	q.Add(inst("1.2", "1.2.1", "99"))
	if st := q.Stats(); st.Instances != 3 || st.Series != 3 || st.Overflowed != 11 {
		t.Fatalf("Stats = %+v, want 3 instances, 3 series, 11 overflowed", st)
	}
	for i := range 3 {
		in, s, err := q.Next(ctx)
		if err != nil || in == nil || in.SOPInstanceUID != fmt.Sprint(i) || s != (Series{}) {
			t.Fatalf("Next %d = %v %v %v, want instance %d", i, in, s, err, i)
		}
	}
	for _, want := range []Series{{"1.1", "1.1.2"}, {"1.1", "1.1.3"}, {"1.2", "1.2.1"}} {
		in, s, err := q.Next(ctx)
		if err != nil || in != nil || s != want {
			t.Fatalf("Next = %v %v %v, want series %v", in, s, err, want)
		}
	}
	if st := q.Stats(); st.Instances != 0 || st.Series != 0 {
		t.Fatalf("Stats = %+v after draining, want empty", st)
	}
	// A series handed out is listed again when more of it overflows.
	for i := range 5 {
		q.Add(inst("1.1", "1.1.2", fmt.Sprint(200+i)))
	}
	if st := q.Stats(); st.Series != 1 {
		t.Fatalf("Stats = %+v, want the series listed again", st)
	}
}

// TestNextWaitsAndStops checks that Next blocks until work arrives (instance or series)
// and returns when its context ends.
func TestNextWaitsAndStops(t *testing.T) {
	q := New(0) // an instance goes to a waiting worker, or overflows
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in, s, err := q.Next(ctx)
		switch {
		case err != nil:
		case in != nil:
			got <- in.SOPInstanceUID
		default:
			got <- s.SeriesUID
		}
	}()
	time.Sleep(20 * time.Millisecond)
	q.Add(inst("2.1", "2.1.1", "1"))
	select {
	case s := <-got:
		if s != "1" && s != "2.1.1" {
			t.Fatalf("woke with %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not wake for an overflowed series")
	}
	wg.Wait()
	done := make(chan error, 1)
	go func() { _, _, err := q.Next(ctx); done <- err }()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Next returned no error after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after cancel")
	}
}
