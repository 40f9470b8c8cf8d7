package backlog

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"pacsd/store"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
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
	wctx := waitingCtx{ctx, make(chan struct{}), new(sync.Once)}
	got := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in, s, err := q.Next(wctx)
		switch {
		case err != nil:
		case in != nil:
			got <- in.SOPInstanceUID
		default:
			got <- s.SeriesUID
		}
	}()
	// Next has found nothing to do and is going into its wait: the work added now must
	// wake it.
	select {
	case <-wctx.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("Next never waited")
	}
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

// waitingCtx tells when Next waits: Next reads ctx.Done() only for the select it blocks in,
// after finding no instance and no series.
type waitingCtx struct {
	context.Context
	waiting chan struct{}
	once    *sync.Once
}

func (c waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// TestRun: Run hands each queued instance and each instance of an overflowed series (as
// the index lists it) to Do, skips those Done reports without waiting for ingest, and
// waits for ingest to pause before the others, at most MaxWait.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var recs []*store.Instance
	for i := range 4 {
		f := storetest.Fixture{Study: "1.5", Series: "1.5.1", SOP: fmt.Sprintf("1.5.1.%d", i+1), SOPClass: storetest.ClassDX,
			Modality: "DX", InstanceNumber: i + 1}
		in := f.Instance()
		if _, err := x.PutInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, in)
	}
	q := New(1)
	for _, in := range recs { // one queued, three overflow into series 1.5.1
		q.Add(in)
	}
	var (
		mu        sync.Mutex
		did       []string
		ingesting = true
		waited    time.Duration
	)
	done := make(chan struct{})
	w := Worker{
		Index: x, MaxWait: 300 * time.Millisecond,
		Ingesting: func() bool { mu.Lock(); defer mu.Unlock(); return ingesting },
		Done:      func(in *store.Instance) bool { return in.SOPInstanceUID == "1.5.1.2" },
		Do: func(_ context.Context, in *store.Instance) {
			mu.Lock()
			defer mu.Unlock()
			did = append(did, in.SOPInstanceUID)
			ingesting = false // ingest pauses after the first instance's wait
			if len(did) == 4 {
				close(done)
			}
		},
	}
	start := time.Now()
	go q.Run(ctx, w)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		t.Fatalf("after 10 s Do saw %v", did)
	}
	waited = time.Since(start)
	// The queued instance first, then the series from the index (the queued one again:
	// Run does not know what Do did; Done is the services' guard), never 1.5.1.2.
	want := []string{"1.5.1.1", "1.5.1.1", "1.5.1.3", "1.5.1.4"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(did, want) {
		t.Errorf("Do saw %v, want %v", did, want)
	}
	if waited < w.MaxWait {
		t.Errorf("the first instance did not wait for ingest (%v)", waited)
	}
}
