package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what became of one job's send.
type Result struct {
	Err error
	// Refused: the destination answered with a failure for this object (a C-STORE failure
	// status, a STOW-RS FailedSOPSequence item): retried with back-off, given up after
	// Config.MaxAttempts. Otherwise an error is the destination's (unreachable,
	// association or authentication refused): retried without limit.
	Refused bool
	// Gone: the object is no longer in the archive; not retried.
	Gone  bool
	Bytes int64 // sent, for the counters
}

// Sender sends the objects of jobs (one study) to d, calling report once per job it
// tried (i indexes jobs), from one goroutine. Its error is the destination's (jobs not
// reported are retried after the back-off); forward/send implements it.
type Sender interface {
	Send(ctx context.Context, d Destination, jobs []Job, report func(i int, r Result)) error
}

// Config configures a Forwarder.
type Config struct {
	Queue  Queue  // required
	Sender Sender // required
	// Owner names this node in the queue's leases (a host name): unique among the nodes
	// sharing the index.
	Owner string
	// RetryMin and RetryMax bound the back-off after a failure: it starts at RetryMin and
	// doubles up to RetryMax, jittered by up to a fifth. 0: 10 s and 10 min.
	RetryMin, RetryMax time.Duration
	// MaxAttempts is how many times an object the destination refuses is tried; 0: 10.
	MaxAttempts int
	// Batch is the most objects of a study sent per claim (one association, one POST); 0: 100.
	Batch int
	// Lease is how long a claim holds its jobs against other nodes; 0: 10 min.
	Lease time.Duration
	// Poll is how often an idle destination looks at the queue without a Kick (objects
	// queued by another node); 0: 5 s.
	Poll   time.Duration
	Logger *slog.Logger
}

// Counters are a destination's totals since start, for /metrics.
type Counters struct {
	SentObjects, SentBytes, Failures int64
}

// Forwarder works the queue: one goroutine per enabled destination. Start, Kick, Close.
type Forwarder struct {
	cfg Config
	log *slog.Logger

	kick   chan struct{}
	mu     sync.Mutex
	loops  map[int64]*destLoop
	counts map[int64]*counters

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type counters struct{ sent, bytes, failures atomic.Int64 }

type destLoop struct {
	d      Destination
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Forwarder; Start starts it.
func New(cfg Config) *Forwarder {
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 10 * time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(10*time.Minute, cfg.RetryMin)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Forwarder{cfg: cfg, log: cfg.Logger.With("component", "forward"), kick: make(chan struct{}, 1),
		loops: map[int64]*destLoop{}, counts: map[int64]*counters{}}
}

// Start releases this node's leases left by a crash (its jobs are due again at once) and
// starts the loops. Close stops them.
func (f *Forwarder) Start(ctx context.Context) error {
	if err := f.cfg.Queue.Release(ctx, f.cfg.Owner, time.Now()); err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	f.wg.Add(1)
	go func() { defer f.wg.Done(); f.supervise(ctx) }()
	return nil
}

// Close stops the loops and waits for them. Sends in flight are abandoned; their jobs stay
// pending (recorded outcomes are kept) and are released at the next Start.
func (f *Forwarder) Close() {
	if f.cancel != nil {
		f.cancel()
		f.wg.Wait()
	}
}

// Kick tells the loops there may be new work (an object stored, a re-send, a change of
// destinations): they look at once instead of at the next poll.
func (f *Forwarder) Kick() {
	poke(f.kick)
	f.mu.Lock()
	for _, l := range f.loops {
		poke(l.kick)
	}
	f.mu.Unlock()
}

// Counters returns each destination's totals since start, by destination ID.
func (f *Forwarder) Counters() map[int64]Counters {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[int64]Counters, len(f.counts))
	for id, c := range f.counts {
		out[id] = Counters{SentObjects: c.sent.Load(), SentBytes: c.bytes.Load(), Failures: c.failures.Load()}
	}
	return out
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// supervise keeps one loop per enabled destination, restarting a loop whose
// destination changed.
func (f *Forwarder) supervise(ctx context.Context) {
	tick := time.NewTicker(f.cfg.Poll)
	defer tick.Stop()
	defer func() {
		f.mu.Lock()
		for id, l := range f.loops {
			l.cancel()
			<-l.done
			delete(f.loops, id)
		}
		f.mu.Unlock()
	}()
	for {
		dests, err := f.cfg.Queue.Destinations(ctx)
		if err != nil && ctx.Err() == nil {
			f.log.Warn("cannot read the forwarding destinations", "err", err)
		}
		if err == nil {
			f.sync(ctx, dests)
		}
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		case <-tick.C:
		}
	}
}

func (f *Forwarder) sync(ctx context.Context, dests []Destination) {
	want := map[int64]Destination{}
	for _, d := range dests {
		if d.Enabled {
			want[d.ID] = d
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, l := range f.loops {
		if d, ok := want[id]; !ok || d != l.d {
			l.cancel()
			<-l.done
			delete(f.loops, id)
		}
	}
	for id, d := range want {
		if _, ok := f.loops[id]; ok {
			continue
		}
		if f.counts[id] == nil {
			f.counts[id] = &counters{}
		}
		lctx, cancel := context.WithCancel(ctx)
		l := &destLoop{d: d, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
		f.loops[id] = l
		go func() { defer close(l.done); f.run(lctx, l, f.counts[id]) }()
	}
}

// backoff is the delay after n consecutive failures (n >= 1), jittered.
func (f *Forwarder) backoff(n int) time.Duration {
	d := f.cfg.RetryMin
	for i := 1; i < n && d < f.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, f.cfg.RetryMax)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// run is one destination's loop: claim a study's due jobs, send them, record outcomes as
// they come (so a crash re-sends as little as possible), back off after a failure.
func (f *Forwarder) run(ctx context.Context, l *destLoop, c *counters) {
	log := f.log.With("destination", l.d.Name)
	fails := 0 // consecutive failed sends of the destination
	poll := time.NewTicker(f.cfg.Poll)
	defer poll.Stop()
	for ctx.Err() == nil {
		jobs, err := f.cfg.Queue.Claim(ctx, l.d.ID, f.cfg.Owner, time.Now(), f.cfg.Lease, f.cfg.Batch)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("cannot claim from the forwarding queue", "err", err)
				f.sleep(ctx, f.backoff(1))
			}
			continue
		}
		if len(jobs) == 0 {
			select {
			case <-ctx.Done():
			case <-l.kick:
			case <-poll.C:
			}
			continue
		}
		destErr := f.send(ctx, l.d, jobs, c, fails+1)
		if ctx.Err() != nil {
			return
		}
		if destErr != nil {
			fails++
			d := f.backoff(fails)
			lvl := slog.LevelWarn
			if fails == 1 {
				lvl = slog.LevelInfo
			}
			log.Log(ctx, lvl, "forwarding failed; retrying", "err", destErr, "retry_in", d.Round(time.Second), "study_jobs", len(jobs))
			f.sleep(ctx, d)
			continue
		}
		fails = 0
	}
}

func (f *Forwarder) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// send sends one claim and records every outcome; the error is the destination's.
func (f *Forwarder) send(ctx context.Context, d Destination, jobs []Job, c *counters, fails int) error {
	// Outcomes are recorded by a second goroutine while the next objects go out: a sent
	// object is marked as soon as the index can take it (group commit), so that a crash
	// re-sends at most the few objects whose marks were in flight. Recording outlives a
	// shutdown: what was sent must be marked.
	rctx := context.WithoutCancel(ctx)
	rec := make(chan Outcome, len(jobs))
	recorded := make(chan error, 1)
	go func() {
		var firstErr error
		for o := range rec {
			batch := []Outcome{o}
			for more := true; more; {
				select {
				case o, ok := <-rec:
					if ok {
						batch = append(batch, o)
					} else {
						more = false
					}
				default:
					more = false
				}
			}
			now := time.Now()
			if err := f.cfg.Queue.Done(rctx, d.ID, batch, now, now, ""); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		recorded <- firstErr
	}()
	reported := make([]bool, len(jobs))
	var refused error
	anyOK := false
	sendErr := f.cfg.Sender.Send(ctx, d, jobs, func(i int, r Result) {
		if i < 0 || i >= len(jobs) || reported[i] {
			return
		}
		j := jobs[i]
		switch {
		case r.Err == nil:
			reported[i], anyOK = true, true
			c.sent.Add(1)
			c.bytes.Add(r.Bytes)
			rec <- Outcome{JobID: j.ID, OK: true}
		case r.Gone || (r.Refused && j.Attempts >= f.cfg.MaxAttempts):
			reported[i] = true
			c.failures.Add(1)
			f.log.Warn("forwarding given up for an object", "destination", d.Name, "sop_instance_uid", j.SOPInstanceUID,
				"attempts", j.Attempts, "err", r.Err)
			rec <- Outcome{JobID: j.ID, Permanent: true, Err: r.Err.Error()}
		case r.Refused:
			// Retried at the object's own back-off, by its attempts.
			reported[i] = true
			c.failures.Add(1)
			if refused == nil {
				refused = r.Err
			}
			rec <- Outcome{JobID: j.ID, Err: r.Err.Error(), RetryAt: time.Now().Add(f.backoff(j.Attempts))}
		}
		// Other errors are the destination's: the job is retried with it, below.
	})
	close(rec)
	recErr := <-recorded
	var out []Outcome
	for i, j := range jobs {
		if !reported[i] {
			out = append(out, Outcome{JobID: j.ID})
		}
	}
	if ctx.Err() != nil {
		// Shutting down: the jobs not reported stay leased to us; the next Start releases them.
		return ctx.Err()
	}
	if sendErr == nil && len(out) > 0 {
		sendErr = errors.New("the sender left objects unsent")
	}
	destErr := ""
	switch {
	case sendErr != nil:
		destErr = sendErr.Error()
		c.failures.Add(int64(len(out)))
	case !anyOK && refused != nil:
		destErr = refused.Error()
	}
	for i := range out {
		out[i].Err = destErr
	}
	now := time.Now()
	if len(out) > 0 || destErr != "" {
		if err := f.cfg.Queue.Done(rctx, d.ID, out, now, now.Add(f.backoff(fails)), destErr); err != nil {
			return fmt.Errorf("record forwards: %w", err)
		}
	}
	if recErr != nil {
		return fmt.Errorf("record forwards: %w", recErr)
	}
	return sendErr
}
