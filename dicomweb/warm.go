package dicomweb

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

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
// sending the next object comes first. A full queue drops objects (counted); their records
// are built on first request as before.

const (
	warmQueueLen = 4096
	warmMaxWait  = 5 * time.Second
	warmPoll     = 100 * time.Millisecond
)

// Service is the background side of the DICOMweb handlers Register mounted: building the
// metadata of new objects as they arrive. Start it to use it; the handlers work without it.
type Service struct {
	s      *server
	queue  chan *store.Instance
	closed atomic.Bool

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup

	warmed, dropped, failed atomic.Int64
}

// WarmStats counts the background work since Start.
type WarmStats struct {
	Warmed, Dropped, Failed int64
	Queued                  int64 // objects waiting now
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
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case in := <-v.queue:
				v.warm(ctx, in)
			}
		}
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
// calls it on the Put's goroutine): a full queue, or a closed service, drops the object.
func (v *Service) Warm(in *store.Instance) {
	if v.closed.Load() {
		return
	}
	select {
	case v.queue <- in:
	default:
		v.dropped.Add(1)
	}
}

// Stats returns the counters.
func (v *Service) Stats() WarmStats {
	return WarmStats{Warmed: v.warmed.Load(), Dropped: v.dropped.Load(), Failed: v.failed.Load(), Queued: int64(len(v.queue))}
}

func (v *Service) warm(ctx context.Context, in *store.Instance) {
	deadline := time.Now().Add(warmMaxWait)
	for v.s.archive.Ingesting() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(warmPoll):
		}
	}
	if _, err := v.s.meta.record(ctx, in); err != nil {
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
