package dicomweb

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"pacsd/internal/backlog"
	"pacsd/store"
)

// Metadata at ingest (DESIGN.md section 4: metadata is built at ingest or on first
// request). OHIF asks for each series' metadata as soon as a study is opened, often
// minutes after it arrived: the instance records it is assembled from are built in the
// background as objects are stored, so that first request only concatenates them.
//
// The archive calls Warm after each new object (Archive.OnStored); Warm only queues. One
// worker builds the records, yielding to ingest (Archive.Ingesting) for up to
// warmMaxWait per object: reading a header it has just written is cheap, but the modality
// sending the next object comes first. Past warmQueueLen waiting objects (a bulk load),
// the queue keeps their series instead (internal/backlog), which the worker then goes
// through from the index: after a load of twenty thousand objects every series opens as
// fast as the first.

const (
	warmQueueLen = 4096
	warmMaxWait  = 5 * time.Second
)

// Service is the background side of the DICOMweb handlers Register mounted: building the
// metadata of new objects as they arrive. Start it to use it; the handlers work without it.
type Service struct {
	s      *server
	queue  *backlog.Queue
	closed atomic.Bool

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup

	warmed, failed atomic.Int64
}

// WarmStats counts the background work since Start.
type WarmStats struct {
	Warmed, Failed int64
	Overflowed     int64 // objects that found the queue full and were left to their series
	Queued         int64 // objects waiting now
	SeriesQueued   int64 // series waiting to be gone through
	// Records built from objects here (after ingest or on first request), and got from
	// Config.Shared because another node of the cluster built them.
	Built, Fetched int64
}

// Start subscribes to the archive's new objects and runs the worker until Close.
func (v *Service) Start(ctx context.Context) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cancel != nil || v.closed.Load() {
		return
	}
	ctx, v.cancel = context.WithCancel(context.WithoutCancel(ctx))
	v.s.archive.OnStored(v.Warm)
	w := backlog.Worker{
		Index: v.s.archive.Index(), Ingesting: v.s.archive.Ingesting, MaxWait: warmMaxWait,
		// A series gone through again finds most records built.
		Done: v.s.meta.has,
		Do:   v.warm,
		ListFailed: func(se backlog.Series, err error) {
			v.failed.Add(1)
			v.s.log.Warn("cannot list a series to build its metadata; it is built on first request", "series_instance_uid", se.SeriesUID, "err", err)
		},
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		v.queue.Run(ctx, w)
	}()
}

// Close stops the worker and waits for it; objects still queued are described on first
// request instead.
func (v *Service) Close() {
	v.closed.Store(true)
	v.mu.Lock()
	cancel := v.cancel
	v.mu.Unlock()
	if cancel != nil {
		cancel()
		v.wg.Wait()
	}
}

// Warm queues a newly stored object for its metadata record. It never blocks (the archive
// calls it on the Put's goroutine); a closed service ignores it.
func (v *Service) Warm(in *store.Instance) {
	if v.closed.Load() {
		return
	}
	v.queue.Add(in)
}

// Stats returns the counters.
func (v *Service) Stats() WarmStats {
	q := v.queue.Stats()
	return WarmStats{Warmed: v.warmed.Load(), Failed: v.failed.Load(), Overflowed: q.Overflowed,
		Queued: int64(q.Instances), SeriesQueued: int64(q.Series),
		Built: v.s.meta.builds.Load(), Fetched: v.s.meta.fetched.Load()}
}

// warm builds one record (backlog.Run has waited for ingest to pause).
func (v *Service) warm(ctx context.Context, in *store.Instance) {
	if _, err := v.s.meta.recordOf(ctx, in, true); err != nil {
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrNotFound) {
			return // replaced or removed since: nothing to warm
		}
		v.failed.Add(1)
		v.s.log.Warn("cannot build metadata in the background; it is built on first request", "sop_instance_uid", in.SOPInstanceUID, "err", err)
		return
	}
	v.warmed.Add(1)
}
