package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is what Run returns once Close has flushed the queue (like http.ErrServerClosed).
var ErrClosed = errors.New("audit: recorder closed")

// Sink receives every recorded event after the store has been asked to keep it (Syslog is
// one). Send must return at once: a sink queues, and counts what it has to drop.
type Sink interface {
	Send(Event)
}

// Config tunes a Recorder; the zero value is usable.
type Config struct {
	// Buffer is how many events may wait for the writer (default 4096): a burst of that many
	// costs the callers only a channel send.
	Buffer int
	// MaxBatch bounds the events of one Append, i.e. of one transaction (default 256).
	MaxBatch int
	// FullWait is how long Record waits for room in a full buffer before the caller appends
	// its event itself (default 20ms). The store being slower than the requests for longer
	// than the buffer lasts thus slows the requests down, instead of losing their events.
	FullWait time.Duration
	// Linger is how long the writer gathers events after the first of a batch before it
	// appends them (default 1s): requests that arrive one after another would otherwise
	// cost one transaction each, and a commit (its fsync) costs the process about 400µs of
	// CPU, as much as a dozen events' rows: at 50ms, C-STORE ingest, one object every 15ms
	// and one event each, paid a commit per three events. Events wait at most this long in
	// memory before they are durable (a crash can lose that much of the trail, as it can
	// lose the buffer); Close and Flush write at once, and the audit page flushes before it
	// searches. Negative: no lingering. The writer is woken once per batch, not per event:
	// lingering ends when the time is up or when MaxBatch events are waiting.
	Linger time.Duration
	// FoldWindow is how far after an event an exact repeat of it (Event.Count) may come and
	// still be folded into it (default 1s; negative: no folding). Only events of one batch
	// fold, i.e. those that arrived within about one Linger of each other, and never more
	// than FoldWindow apart: a viewer that
	// repeats a search, or polls one, is one row with a count instead of a row per request,
	// and every look that differs in anything (user, address, query, study, outcome) keeps
	// its own row. The sinks still get every event unfolded.
	FoldWindow time.Duration
	// Sinks also receive every event (forwarding to a collector).
	Sinks  []Sink
	Logger *slog.Logger
}

// Stats are the recorder's counters since it was made (exposed on /metrics).
type Stats struct {
	Recorded uint64 // events given to Record
	Written  uint64 // events the store has kept (a folded row counts as its Count)
	Rows     uint64 // rows the store has kept: Written less what folding saved
	Batches  uint64 // successful Appends
	Direct   uint64 // events their caller appended because the buffer was full or the recorder closed
	Retries  uint64 // failed Appends retried
	Lost     uint64 // events the store refused after retries (each one logged at error level)
	Queued   int    // events waiting now
}

// Recorder queues events for a Store and appends them in batches from one goroutine. Run
// drains the queue until Close; Close stops it after the queue is written. Record may be
// called before Run, during, and after Close (then the caller writes its event itself).
type Recorder struct {
	st    Store
	cfg   Config
	log   *slog.Logger
	ch    chan Event
	full  chan struct{} // a lingering writer's wake-up: MaxBatch events are waiting
	flush chan chan struct{}
	wake  int // the queue length at which Record sends on full
	quit  chan struct{}
	done  chan struct{}
	state sync.RWMutex // Record holds it shared while sending on ch; Close exclusively to close
	// closed and running are guarded by state.
	closed, running bool

	recorded, written, rows, batches, direct, retries, lost atomic.Uint64
}

// New returns a recorder appending to st; call Run in a goroutine, and Close at shutdown
// (before the store is closed).
func New(st Store, cfg Config) *Recorder {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 4096
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.FullWait <= 0 {
		cfg.FullWait = 20 * time.Millisecond
	}
	if cfg.Linger == 0 {
		cfg.Linger = time.Second
	}
	if cfg.FoldWindow == 0 {
		cfg.FoldWindow = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Recorder{
		st: st, cfg: cfg, log: log.With("component", "audit"),
		ch: make(chan Event, cfg.Buffer), full: make(chan struct{}, 1), wake: max(cfg.MaxBatch-1, 1),
		flush: make(chan chan struct{}), quit: make(chan struct{}), done: make(chan struct{}),
	}
}

// Record queues ev (the current time when ev.Time is zero) and returns; it never fails and
// never drops the event. With the buffer full it waits up to Config.FullWait, or until ctx
// ends, for room, then appends ev itself (with ctx's values, not its cancellation: a
// request that ended is still audited).
func (r *Recorder) Record(ctx context.Context, ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Normalize()
	r.recorded.Add(1)
	r.state.RLock()
	if !r.closed {
		select {
		case r.ch <- ev:
			r.state.RUnlock()
			r.woken()
			return
		default:
		}
		t := time.NewTimer(r.cfg.FullWait)
		select {
		case r.ch <- ev:
			t.Stop()
			r.state.RUnlock()
			r.woken()
			return
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	r.state.RUnlock()
	r.direct.Add(1)
	one := []Event{ev}
	r.write(context.WithoutCancel(ctx), one, one)
}

// woken ends the writer's lingering once a full batch is waiting (otherwise the writer
// sleeps through the linger without a wake-up per event).
func (r *Recorder) woken() {
	if len(r.ch) >= r.wake {
		select {
		case r.full <- struct{}{}:
		default:
		}
	}
}

// Run appends queued events, as many as are waiting (up to MaxBatch) in one Append, until
// Close; it then writes what is left and returns ErrClosed.
func (r *Recorder) Run() error {
	r.state.Lock()
	if r.closed || r.running {
		r.state.Unlock()
		return ErrClosed
	}
	r.running = true
	r.state.Unlock()
	defer close(r.done)
	batch := make([]Event, 0, r.cfg.MaxBatch)
	f := newFolder(r.cfg.FoldWindow)
	for {
		select {
		case ev := <-r.ch:
			batch, flushed, quit := r.linger(append(batch[:0], ev))
			r.write(context.Background(), f.fold(batch), batch)
			if quit {
				r.drain(batch, f)
				return ErrClosed
			}
			if flushed != nil {
				r.drain(batch, f)
				close(flushed)
			}
		case flushed := <-r.flush:
			r.drain(batch, f)
			close(flushed)
		case <-r.quit:
			r.drain(batch, f)
			return ErrClosed
		}
	}
}

// linger waits up to Linger after the batch's first event, or until MaxBatch events are
// waiting, Flush is called (flushed) or the recorder closes (quit), then takes what is
// queued: group commit across requests that do not overlap.
func (r *Recorder) linger(batch []Event) (_ []Event, flushed chan struct{}, quit bool) {
	if r.cfg.Linger <= 0 {
		return r.fill(batch), nil, false
	}
	select { // a wake-up left from the previous batch
	case <-r.full:
	default:
	}
	if len(r.ch) >= r.wake {
		return r.fill(batch), nil, false
	}
	t := time.NewTimer(r.cfg.Linger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.full:
	case flushed = <-r.flush:
	case <-r.quit:
		return r.fill(batch), nil, true
	}
	return r.fill(batch), flushed, false
}

// Flush returns once every event recorded before it was called has been given to the store
// (and the sinks), without waiting for the writer's linger: for a caller that must see its
// events in the store (tests, benchmarks counting the writer's work). It waits for Run to
// start, or for ctx.
func (r *Recorder) Flush(ctx context.Context) error {
	flushed := make(chan struct{})
	select {
	case r.flush <- flushed:
	case <-r.done: // closed: Close wrote everything
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit flush: %w", ctx.Err())
	}
	select {
	case <-flushed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit flush: %w", ctx.Err())
	}
}

// fill adds the events already waiting, up to MaxBatch: group commit.
func (r *Recorder) fill(batch []Event) []Event {
	for len(batch) < r.cfg.MaxBatch {
		select {
		case ev := <-r.ch:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// drain writes everything queued; nothing is added once closed is set.
func (r *Recorder) drain(batch []Event, f *folder) {
	for {
		batch = r.fill(batch[:0])
		if len(batch) == 0 {
			return
		}
		r.write(context.Background(), f.fold(batch), batch)
	}
}

// Close stops accepting events into the queue, waits until Run has written the queue (or
// writes it itself when Run was never called) and returns. Safe to call more than once.
func (r *Recorder) Close() error {
	r.state.Lock()
	if r.closed {
		r.state.Unlock()
		<-r.done
		return nil
	}
	r.closed = true
	running := r.running
	r.state.Unlock()
	close(r.quit)
	if !running {
		r.drain(make([]Event, 0, r.cfg.MaxBatch), newFolder(r.cfg.FoldWindow))
		close(r.done)
	}
	<-r.done
	return nil
}

// Stats returns the counters.
func (r *Recorder) Stats() Stats {
	return Stats{
		Recorded: r.recorded.Load(), Written: r.written.Load(), Rows: r.rows.Load(), Batches: r.batches.Load(),
		Direct: r.direct.Load(), Retries: r.retries.Load(), Lost: r.lost.Load(), Queued: len(r.ch),
	}
}

// retryDelays are the waits before the second and third attempt of an Append: a busy or
// briefly full disk gets a moment; a store that stays down loses the batch (logged).
var retryDelays = []time.Duration{50 * time.Millisecond, 500 * time.Millisecond}

// write appends evs (orig folded, or orig itself), retrying; if the batch still fails, each
// event is tried alone so that one the store cannot take does not take the others with it.
// Every lost event is counted and logged (without the patient's name or ID). The sinks get
// every event of orig either way.
func (r *Recorder) write(ctx context.Context, evs, orig []Event) {
	err := r.st.Append(ctx, evs)
	for _, d := range retryDelays {
		if err == nil {
			break
		}
		r.retries.Add(1)
		r.log.Warn("audit append failed, retrying", "events", len(evs), "err", err)
		time.Sleep(d)
		err = r.st.Append(ctx, evs)
	}
	switch {
	case err == nil:
		r.written.Add(uint64(len(orig)))
		r.rows.Add(uint64(len(evs)))
		r.batches.Add(1)
	case len(evs) > 1:
		for _, ev := range evs {
			if err := r.st.Append(ctx, []Event{ev}); err != nil {
				r.loss(ev, err)
				continue
			}
			r.written.Add(uint64(ev.Count))
			r.rows.Add(1)
			r.batches.Add(1)
		}
	default:
		r.loss(evs[0], err)
	}
	for _, s := range r.cfg.Sinks {
		for _, ev := range orig {
			s.Send(ev)
		}
	}
}

func (r *Recorder) loss(ev Event, err error) {
	r.lost.Add(uint64(ev.Count))
	r.log.Error("audit event lost", "err", err, "count", ev.Count, "time", ev.Time, "action", ev.Action,
		"actor", ev.Actor.Kind, "user", ev.Actor.UserName, "ae", ev.Actor.AETitle, "addr", ev.Actor.Address,
		"study", ev.StudyUID, "object", ev.Object, "outcome", ev.Outcome)
}

// folder folds the exact repeats of a batch (Event.Count); the writer goroutine owns one.
type folder struct {
	window time.Duration
	first  map[Event]int // an event without Time and Count -> its row in rows
	rows   []Event
}

func newFolder(window time.Duration) *folder {
	return &folder{window: window, first: map[Event]int{}}
}

// fold returns evs (normalized) with every event that repeats an earlier one of evs within
// the window added to that one's Count, in the order of first occurrence. The result is
// the folder's until the next call.
func (f *folder) fold(evs []Event) []Event {
	if f.window < 0 || len(evs) < 2 {
		return evs
	}
	clear(f.first)
	f.rows = f.rows[:0]
	for _, ev := range evs {
		k := ev
		k.Time, k.Count = time.Time{}, 0
		if i, ok := f.first[k]; ok && ev.Time.Sub(f.rows[i].Time) <= f.window {
			f.rows[i].Count += ev.Count
			continue
		}
		f.first[k] = len(f.rows)
		f.rows = append(f.rows, ev)
	}
	return f.rows
}
