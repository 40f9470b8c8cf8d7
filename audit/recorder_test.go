package audit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/audit"
)

// gateStore keeps appended events in memory; while gate is set, Append waits for it to be
// closed, and events whose Object is "bad" make an Append fail. It isolates the Recorder's
// own behaviour (the stores run audittest, Recorder included).
type gateStore struct {
	mu      sync.Mutex
	evs     []audit.Event
	batches []int
	gate    chan struct{}
	entered chan struct{} // receives once per Append that waits at the gate
}

func (s *gateStore) Append(ctx context.Context, evs []audit.Event) error {
	if s.gate != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-s.gate
	}
	for _, e := range evs {
		if e.Object == "bad" {
			return errors.New("refused")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, evs...)
	s.batches = append(s.batches, len(evs))
	return nil
}

func (s *gateStore) Search(ctx context.Context, f audit.Filter) (audit.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return audit.Page{Events: append([]audit.Event(nil), s.evs...)}, nil
}

func (s *gateStore) Purge(ctx context.Context, before time.Time) (int64, error) {
	return 0, nil
}

func (s *gateStore) stored() []audit.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]audit.Event(nil), s.evs...)
}

func ev(obj string) audit.Event {
	return audit.Event{Actor: audit.User(1, "li", "10.0.0.1"), Action: audit.ActionImageView,
		PatientID: "P1", PatientName: "张^伟", Object: obj}
}

// collect is a Sink keeping what it is sent.
type collect struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (c *collect) Send(e audit.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, e)
	c.mu.Unlock()
}

// TestRecorderFlushOnClose: events queued while the store is busy are all written by Close,
// in batches (group commit), and the sinks get each of them.
func TestRecorderFlushOnClose(t *testing.T) {
	st := &gateStore{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	sink := &collect{}
	r := audit.New(st, audit.Config{Buffer: 1000, MaxBatch: 64, Sinks: []audit.Sink{sink}})
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	r.Record(context.Background(), ev("first"))
	<-st.entered // the writer holds "first" at the store's gate
	for i := range 200 {
		r.Record(context.Background(), ev(strconv.Itoa(i)))
	}
	if q := r.Stats().Queued; q != 200 {
		t.Errorf("queued %d, want 200", q)
	}
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	close(st.gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := <-ran; !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Run: %v, want ErrClosed", err)
	}
	got := st.stored()
	if len(got) != 201 || got[0].Object != "first" || got[200].Object != "199" {
		t.Fatalf("stored %d events", len(got))
	}
	for i, b := range st.batches {
		if b > 64 {
			t.Errorf("batch %d holds %d events, more than MaxBatch", i, b)
		}
	}
	if len(st.batches) > 1+(200+63)/64+1 {
		t.Errorf("%d appends for 201 events: not batched", len(st.batches))
	}
	for _, e := range got {
		if e.Time.IsZero() || e.Time.Location() != time.UTC || e.Outcome != audit.OutcomeSuccess {
			t.Errorf("event %s: time %v outcome %q", e.Object, e.Time, e.Outcome)
		}
	}
	if len(sink.evs) != 201 {
		t.Errorf("sink got %d events, want 201", len(sink.evs))
	}
	s := r.Stats()
	if s.Recorded != 201 || s.Written != 201 || s.Direct != 0 || s.Lost != 0 || s.Queued != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestRecorderFullBuffer: with the buffer full a caller writes its own event (after
// FullWait, or at once when its context has ended), nothing is dropped, and Close writes
// the queue even when Run was never started.
func TestRecorderFullBuffer(t *testing.T) {
	st := &gateStore{}
	r := audit.New(st, audit.Config{Buffer: 2, FullWait: time.Hour})
	r.Record(context.Background(), ev("q1"))
	r.Record(context.Background(), ev("q2"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A full buffer and an ended request: written at once (an hour's FullWait would hang).
	r.Record(ctx, ev("direct"))
	if got := st.stored(); len(got) != 1 || got[0].Object != "direct" {
		t.Fatalf("stored %v, want the direct event only", got)
	}
	r2 := audit.New(st, audit.Config{Buffer: 1, FullWait: time.Nanosecond})
	r2.Record(context.Background(), ev("r2q"))
	r2.Record(context.Background(), ev("r2direct"))
	if s := r2.Stats(); s.Direct != 1 || s.Queued != 1 {
		t.Errorf("stats %+v, want 1 direct, 1 queued", s)
	}
	for _, rec := range []*audit.Recorder{r, r2} {
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		if err := rec.Run(); !errors.Is(err, audit.ErrClosed) {
			t.Errorf("Run after Close: %v", err)
		}
	}
	var objs []string
	for _, e := range st.stored() {
		objs = append(objs, e.Object)
	}
	if strings.Join(objs, ",") != "direct,r2direct,q1,q2,r2q" {
		t.Errorf("stored %q", objs)
	}
}

// TestRecorderLoss: an event the store refuses (after retries) does not take its batch with
// it; it is counted and logged, without the patient's name or ID, and still forwarded.
func TestRecorderLoss(t *testing.T) {
	st := &gateStore{}
	var logs bytes.Buffer
	sink := &collect{}
	r := audit.New(st, audit.Config{Sinks: []audit.Sink{sink},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r.Record(context.Background(), ev("good1"))
	r.Record(context.Background(), ev("bad"))
	r.Record(context.Background(), ev("good2"))
	r.Close() // one batch of three: fails, retried, then one by one
	if got := st.stored(); len(got) != 2 || got[0].Object != "good1" || got[1].Object != "good2" {
		t.Errorf("stored %v", got)
	}
	if s := r.Stats(); s.Lost != 1 || s.Written != 2 || s.Retries == 0 {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), "audit event lost") || !strings.Contains(logs.String(), "object=bad") {
		t.Errorf("loss not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "P1") || strings.Contains(logs.String(), "张") {
		t.Errorf("the log carries the patient: %s", logs.String())
	}
	if len(sink.evs) != 3 {
		t.Errorf("sink got %d events, want 3", len(sink.evs))
	}
}

// TestRecorderLinger: events that arrive one after another, none overlapping, still share
// one Append while the writer lingers; without lingering each costs an Append of its own.
func TestRecorderLinger(t *testing.T) {
	run := func(linger time.Duration, waitEach bool) []int {
		st := &gateStore{}
		r := audit.New(st, audit.Config{Linger: linger})
		ran := make(chan error, 1)
		go func() { ran <- r.Run() }()
		for i := range 5 {
			r.Record(context.Background(), ev(strconv.Itoa(i)))
			if waitEach { // the next request comes only once this one's event is written
				deadline := time.Now().Add(10 * time.Second)
				for len(st.stored()) < i+1 {
					if time.Now().After(deadline) {
						t.Fatalf("event %d never written", i)
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		<-ran
		if got := len(st.stored()); got != 5 {
			t.Fatalf("stored %d events, want 5", got)
		}
		return st.batches
	}
	// An hour's linger: nothing is written until Close, which writes all five at once.
	if b := run(time.Hour, false); len(b) != 1 || b[0] != 5 {
		t.Errorf("lingering: appends %v, want one of 5", b)
	}
	if b := run(-1, true); len(b) != 5 {
		t.Errorf("no lingering, one event at a time: appends %v, want 5 of 1", b)
	}
}

// TestRecorderFold: exact repeats that share a batch become one row with their count; a
// look that differs in anything (address, query, outcome), or comes after the fold window,
// keeps its own row; the sinks get every event.
func TestRecorderFold(t *testing.T) {
	sink := &collect{}
	st := &gateStore{}
	r := audit.New(st, audit.Config{Linger: time.Hour, FoldWindow: time.Second, Sinks: []audit.Sink{sink}})
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	search := func(addr, q string, after time.Duration) audit.Event {
		return audit.Event{Time: at.Add(after), Actor: audit.User(3, "wang", addr), Action: audit.ActionQuery, Object: q}
	}
	failed := search("10.0.0.1", "/studies?PatientID=P1", 300*time.Millisecond)
	failed.Outcome, failed.Detail = audit.OutcomeFailure, "HTTP 400"
	for _, e := range []audit.Event{
		search("10.0.0.1", "/studies?PatientID=P1", 0),
		search("10.0.0.1", "/studies?PatientID=P1", 100*time.Millisecond),
		search("10.0.0.2", "/studies?PatientID=P1", 150*time.Millisecond), // another address
		search("10.0.0.1", "/studies?PatientID=P2", 200*time.Millisecond), // another patient
		failed,
		search("10.0.0.1", "/studies?PatientID=P1", 900*time.Millisecond),
		search("10.0.0.1", "/studies?PatientID=P1", 1500*time.Millisecond), // past the window
	} {
		r.Record(context.Background(), e)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	<-ran
	type row struct {
		addr, obj string
		outcome   audit.Outcome
		after     time.Duration
		count     int
	}
	var got []row
	for _, e := range st.stored() {
		got = append(got, row{e.Actor.Address, e.Object, e.Outcome, e.Time.Sub(at), e.Count})
	}
	want := []row{
		{"10.0.0.1", "/studies?PatientID=P1", audit.OutcomeSuccess, 0, 3},
		{"10.0.0.2", "/studies?PatientID=P1", audit.OutcomeSuccess, 150 * time.Millisecond, 1},
		{"10.0.0.1", "/studies?PatientID=P2", audit.OutcomeSuccess, 200 * time.Millisecond, 1},
		{"10.0.0.1", "/studies?PatientID=P1", audit.OutcomeFailure, 300 * time.Millisecond, 1},
		{"10.0.0.1", "/studies?PatientID=P1", audit.OutcomeSuccess, 1500 * time.Millisecond, 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %v\nwant %v", got, want)
	}
	if s := r.Stats(); s.Written != 7 || s.Rows != 5 || s.Recorded != 7 {
		t.Errorf("stats %+v, want 7 recorded and written in 5 rows", s)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.evs) != 7 {
		t.Errorf("sink got %d events, want all 7", len(sink.evs))
	}
}

// TestRecorderFlush: Flush has the writer write what is queued now, however long it would
// linger, and returns once it is stored; after Close it returns at once.
func TestRecorderFlush(t *testing.T) {
	st := &gateStore{}
	r := audit.New(st, audit.Config{Linger: time.Hour})
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for round := 1; round <= 2; round++ {
		for i := range 3 {
			r.Record(ctx, ev(strconv.Itoa(10*round+i)))
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(st.stored()); n != 3*round {
			t.Fatalf("round %d: %d events stored after Flush, want %d", round, n, 3*round)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	<-ran
	if err := r.Flush(ctx); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
}
