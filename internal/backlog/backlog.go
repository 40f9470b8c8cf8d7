// Package backlog is the work list of what pacsd does after ingest (thumbnails, WADO-RS
// metadata records): newly stored instances, queued as they arrive, and never forgotten.
//
// Up to a fixed number of instances wait as they are. Past that, during a bulk load (a
// township sending a day's studies, a migration), only their series are remembered, once
// each, and handed out when the queued instances are done: the worker then goes through
// the series from the index. The memory is bounded by the number of series arriving, not
// of instances, and the enqueuing Put never waits.
//
// Run is the workers' loop: it goes through overflowed series, skips what is done already
// and yields to ingest, so the services (thumbnails, metadata records) only say what one
// instance needs.
package backlog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"pacsd/store"
)

// Series names a series whose instances overflowed the queue.
type Series struct{ StudyUID, SeriesUID string }

// Queue is safe for concurrent use by any number of producers and workers.
type Queue struct {
	items chan *store.Instance
	wake  chan struct{} // a series was added

	mu     sync.Mutex
	series []Series // in the order they overflowed
	listed map[Series]bool

	overflowed atomic.Int64
}

// New returns a queue holding up to n instances before it falls back to series.
func New(n int) *Queue {
	return &Queue{items: make(chan *store.Instance, n), wake: make(chan struct{}, 1), listed: map[Series]bool{}}
}

// Add queues in. It never blocks.
func (q *Queue) Add(in *store.Instance) {
	select {
	case q.items <- in:
		return
	default:
	}
	q.overflowed.Add(1)
	s := Series{in.StudyInstanceUID, in.SeriesInstanceUID}
	q.mu.Lock()
	if !q.listed[s] {
		q.listed[s] = true
		q.series = append(q.series, s)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Next waits for work: a queued instance (in != nil) or, when none is queued, a series to
// go through. It returns ctx's error once ctx is done.
func (q *Queue) Next(ctx context.Context) (in *store.Instance, s Series, err error) {
	for {
		select {
		case in := <-q.items:
			return in, Series{}, nil
		default:
		}
		if s, ok := q.popSeries(); ok {
			return nil, s, nil
		}
		select {
		case <-ctx.Done():
			return nil, Series{}, ctx.Err()
		case in := <-q.items:
			return in, Series{}, nil
		case <-q.wake:
		}
	}
}

func (q *Queue) popSeries() (Series, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.series) == 0 {
		return Series{}, false
	}
	s := q.series[0]
	q.series[0] = Series{}
	q.series = q.series[1:]
	// An instance of s arriving from now on overflows into a new pass over s: the pass
	// under way may have listed the series before it was indexed.
	delete(q.listed, s)
	return s, true
}

// Stats is what waits now, and how many instances overflowed into series since New.
type Stats struct {
	Instances, Series int
	Overflowed        int64
}

func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Stats{Instances: len(q.items), Series: len(q.series), Overflowed: q.overflowed.Load()}
}

// Worker is what a service does with the queue's instances.
type Worker struct {
	Index store.IndexReader // lists the instances of an overflowed series
	// Ingesting reports whether objects are arriving: each instance waits while it is
	// true, for at most MaxWait, since the modality sending the next object comes first.
	Ingesting func() bool
	MaxWait   time.Duration
	// Done reports an instance handled already (a series gone through again, a
	// duplicate): it is skipped without waiting for ingest. Nil: none is.
	Done func(*store.Instance) bool
	Do   func(context.Context, *store.Instance)
	// ListFailed, when set, is told of a series the index could not list; its work is
	// then left to the first request.
	ListFailed func(Series, error)
}

// ingestPoll is how often a waiting instance looks whether ingest has paused.
const ingestPoll = 100 * time.Millisecond

// Run does the queue's work with w until ctx ends.
func (q *Queue) Run(ctx context.Context, w Worker) {
	for {
		in, s, err := q.Next(ctx)
		if err != nil {
			return
		}
		if in != nil {
			w.one(ctx, in)
			continue
		}
		list, err := w.Index.Instances(ctx, s.StudyUID, s.SeriesUID)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) && w.ListFailed != nil {
				w.ListFailed(s, err)
			}
			continue
		}
		for _, in := range list {
			if ctx.Err() != nil {
				return
			}
			w.one(ctx, in)
		}
	}
}

func (w Worker) one(ctx context.Context, in *store.Instance) {
	if w.Done != nil && w.Done(in) {
		return
	}
	deadline := time.Now().Add(w.MaxWait)
	for w.Ingesting() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(ingestPoll):
		}
	}
	w.Do(ctx, in)
}
