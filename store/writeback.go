package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// UploadConfig tunes the write-back to a remote blob store (Config.Remote).
type UploadConfig struct {
	// Workers is the number of concurrent uploads; 0 means 4. Each holds at most one
	// multipart part in memory (store/s3: 16 MiB).
	Workers int
	// LocalBudget is how many bytes of already uploaded objects stay in the local store
	// as a read cache; the oldest received are evicted first, so recent studies (the ones
	// radiologists open) are read from local disk. Objects not yet uploaded are never
	// evicted and do not count against it. 0 evicts every object once uploaded; < 0
	// keeps all.
	LocalBudget int64
	// MaxPending is the spool's hard limit: while more bytes than this wait for upload,
	// Put refuses new objects with ErrNoSpace (C-STORE 0xA700, STOW 507), so that a long
	// remote outage fills the spool to a known size rather than the disk. 0 = no limit
	// other than Config.MinFreeBytes. Only objects received since the archive first had a
	// remote count: a folder archive being migrated is already on disk.
	MaxPending int64
	// RetryMin and RetryMax bound the back-off after a failed upload: 0 = 1 s and 1 min.
	RetryMin, RetryMax time.Duration
	// YieldMax is how long an object may wait for upload while objects are arriving:
	// uploads start when ingest pauses (or an object has waited this long), so that the
	// modalities get the disk and CPU first; this is how the spool hides the remote store
	// from them. 0 means one minute; < 0 uploads at once.
	YieldMax time.Duration
	// WriteThrough is cluster mode (several nodes over one index and one bucket): Put
	// uploads each new object, verified as the write-back verifies it, before the index
	// records it (as uploaded), and only then acknowledges it. An object acknowledged by
	// one node is then readable from every node at once, and a node lost after an ack
	// leaves nothing that only it held. The price: Put waits for the remote store, and
	// while that is unreachable new objects are refused (ErrUnavailable) instead of
	// spooled. The local copy stays as this node's read cache under LocalBudget, evicted
	// by this node alone (oldest written first) without touching the index: the index's
	// Evicted flag is shared by every node and would send them all to the remote store.
	// MaxPending has nothing to bound: nothing waits for upload. Objects that were
	// pending when write-through was switched on are still uploaded by the node that
	// holds them; the other nodes pass them over.
	WriteThrough bool
}

// SpoolStats are the write-back counters (exposed on /metrics by cmd/pacsd). Counts since
// start, except the Pending* and Local* gauges which describe the archive now.
type SpoolStats struct {
	PendingObjects  int64 // received, not yet uploaded
	PendingBytes    int64
	SpoolBytes      int64 // pending bytes counted against UploadConfig.MaxPending
	LocalBytes      int64 // bytes kept locally (pending plus cached)
	UploadedObjects int64 // uploads completed and verified since start
	UploadedBytes   int64
	UploadFailures  int64 // failed upload attempts since start (each is retried)
	EvictedObjects  int64
	EvictedBytes    int64
	UploadRate      float64   // bytes per second over the last minute of uploading
	RemoteDownSince time.Time // first failure of the current run of failures; zero when healthy
}

// settingRemote and settingRemoteSince record which remote store holds the archive and when
// it was first configured.
const (
	settingRemote      = "remote"
	settingRemoteSince = "remote_since"
)

// writeBack uploads indexed objects from the local store to the remote one and evicts local
// copies under a budget. Its work list is the index (uploaded = 0), so nothing depends on
// memory surviving a crash: on start it simply finds what is still pending.
type writeBack struct {
	a   *Archive
	cfg UploadConfig
	log *slog.Logger

	since time.Time // objects received from then on count against MaxPending

	pendingObjects, pendingBytes, spoolBytes, localBytes atomic.Int64
	uploadedObjects, uploadedBytes, failures             atomic.Int64
	evictedObjects, evictedBytes                         atomic.Int64

	evictMu sync.Mutex // one eviction pass at a time
	listed  bool       // write-through: localBytes was counted by listing the local store (under evictMu)

	kick      chan struct{} // new pending work, or a worker finished
	evictKick chan struct{}

	mu         sync.Mutex
	inflight   map[string]bool      // SOP Instance UIDs being uploaded
	skip       map[string]time.Time // objects that failed for a local reason, until when
	pauseUntil time.Time            // back-off after a remote failure
	// refuseUntil: write-through Puts are refused until then, after one failed; apart from
	// pauseUntil, so that a failing upload of an old pending object does not hold them off
	// for its growing back-off.
	refuseUntil time.Time
	backoff     time.Duration
	downSince   time.Time
	rate        rateMeter

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWriteBack(a *Archive) *writeBack {
	cfg := a.cfg.Upload
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Minute
	}
	if cfg.YieldMax == 0 {
		cfg.YieldMax = time.Minute
	}
	return &writeBack{
		a:         a,
		cfg:       cfg,
		log:       a.log.With("component", "uploader"),
		kick:      make(chan struct{}, 1),
		evictKick: make(chan struct{}, 1),
		inflight:  make(map[string]bool),
		skip:      make(map[string]time.Time),
	}
}

// Start starts the background work of an archive with a remote store (uploads, eviction);
// it does nothing for a folder-only archive. remoteName identifies the remote store (its
// bucket and prefix): an archive whose objects were uploaded to one remote refuses to start
// with another, or with none, since the index would point at objects it cannot reach.
// Call it after Recover, once; Close stops it.
func (a *Archive) Start(ctx context.Context, remoteName string) error {
	if a.wb == nil {
		u, err := a.idx.Usage(ctx)
		if err != nil {
			return fmt.Errorf("start: %w", err)
		}
		name, err := a.idx.Setting(ctx, settingRemote)
		if err != nil {
			return fmt.Errorf("start: %w", err)
		}
		if u.LocalObjects < u.Instances {
			return fmt.Errorf("start: %d of %d instances are kept only in the remote store %q: configure it (--s3-*): %w",
				u.Instances-u.LocalObjects, u.Instances, name, ErrUnavailable)
		}
		return nil
	}
	return a.wb.start(ctx, remoteName)
}

// Close stops the background work and waits for it. Uploads in flight are abandoned; they
// stay pending in the index and are redone after the next Start.
func (a *Archive) Close() error {
	if a.wb != nil && a.wb.cancel != nil {
		a.wb.cancel()
		a.wb.wg.Wait()
	}
	return nil
}

// SpoolStats returns the write-back counters; zero for a folder-only archive.
func (a *Archive) SpoolStats() SpoolStats {
	w := a.wb
	if w == nil {
		return SpoolStats{}
	}
	w.mu.Lock()
	rate, down := w.rate.perSecond(time.Now()), w.downSince
	w.mu.Unlock()
	return SpoolStats{
		PendingObjects:  w.pendingObjects.Load(),
		PendingBytes:    w.pendingBytes.Load(),
		SpoolBytes:      w.spoolBytes.Load(),
		LocalBytes:      w.localBytes.Load(),
		UploadedObjects: w.uploadedObjects.Load(),
		UploadedBytes:   w.uploadedBytes.Load(),
		UploadFailures:  w.failures.Load(),
		EvictedObjects:  w.evictedObjects.Load(),
		EvictedBytes:    w.evictedBytes.Load(),
		UploadRate:      rate,
		RemoteDownSince: down,
	}
}

// Drain waits until nothing is pending upload (or ctx ends), then evicts local copies down
// to the budget. `pacsd migrate` and tests use it; it does not stop new objects arriving.
func (a *Archive) Drain(ctx context.Context) error {
	if a.wb == nil {
		return nil
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for a.wb.pendingObjects.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d objects still pending: %w", a.wb.pendingObjects.Load(), ctx.Err())
		case <-t.C:
		}
	}
	if a.wb.cfg.LocalBudget < 0 {
		return nil
	}
	if err := a.wb.evict(ctx); err != nil {
		return fmt.Errorf("drain: evict: %w", err)
	}
	return nil
}

func (w *writeBack) start(ctx context.Context, remoteName string) error {
	idx := w.a.idx
	prev, err := idx.Setting(ctx, settingRemote)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	u, err := idx.Usage(ctx)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if prev != "" && prev != remoteName && u.UploadedObjects > 0 {
		return fmt.Errorf("start: %d instances were uploaded to %q, not to %q: %w", u.UploadedObjects, prev, remoteName, ErrInvalid)
	}
	if prev != remoteName {
		if err := idx.SetSetting(ctx, settingRemote, remoteName); err != nil {
			return fmt.Errorf("start: %w", err)
		}
	}
	since, err := idx.Setting(ctx, settingRemoteSince)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if since == "" {
		w.since = w.a.cfg.now().UTC() // compared with received times: the same clock
		if err := idx.SetSetting(ctx, settingRemoteSince, w.since.Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("start: %w", err)
		}
	} else if w.since, err = time.Parse(time.RFC3339Nano, since); err != nil {
		return fmt.Errorf("start: setting %s %q: %w", settingRemoteSince, since, err)
	}
	// The spool's own bytes: pending objects received since the remote was configured.
	var spool int64
	err = idx.BlobRefs(ctx, RefsPending, 0, func(r BlobRef) error {
		if !r.ReceivedAt.Before(w.since) {
			spool += r.Size
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	w.pendingObjects.Store(u.PendingObjects)
	w.pendingBytes.Store(u.PendingBytes)
	w.spoolBytes.Store(spool)
	switch {
	case w.cfg.WriteThrough:
		// The index's counts are every node's: this node's cache is counted by the first
		// eviction pass, which lists it (in the background, not before serving).
		if u.PendingObjects > 0 {
			w.log.Warn("objects received before write-through are not yet uploaded; the node that holds them uploads them",
				"pending_objects", u.PendingObjects, "pending_bytes", u.PendingBytes)
		}
	case u.PendingObjects > 0:
		w.localBytes.Store(u.LocalBytes)
		w.log.Info("resuming uploads", "pending_objects", u.PendingObjects, "pending_bytes", u.PendingBytes,
			"spool_bytes", spool)
	default:
		w.localBytes.Store(u.LocalBytes)
	}

	ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	jobs := make(chan BlobRef)
	w.wg.Add(2 + w.cfg.Workers)
	go func() { defer w.wg.Done(); w.dispatch(ctx, jobs) }()
	go func() { defer w.wg.Done(); w.evictLoop(ctx) }()
	for range w.cfg.Workers {
		go func() {
			defer w.wg.Done()
			for r := range jobs {
				w.upload(ctx, r)
			}
		}()
	}
	w.poke(w.kick)
	w.poke(w.evictKick)
	return nil
}

func (w *writeBack) poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// yielding reports whether r's upload should wait for ingest to pause.
func (w *writeBack) yielding(r BlobRef) bool {
	if w.cfg.YieldMax < 0 || w.a.cfg.now().Sub(r.ReceivedAt) >= w.cfg.YieldMax {
		return false
	}
	return w.a.Ingesting()
}

// checkSpool refuses new objects while the spool is over its hard limit.
func (w *writeBack) checkSpool() error {
	if w == nil || w.cfg.MaxPending <= 0 || w.cfg.WriteThrough {
		return nil
	}
	if n := w.spoolBytes.Load(); n > w.cfg.MaxPending {
		return fmt.Errorf("put: %d bytes wait for upload to the remote store, the spool limit is %d: %w",
			n, w.cfg.MaxPending, ErrNoSpace)
	}
	return nil
}

// stored accounts for a Put that committed inst (replacing prev, if not nil).
func (w *writeBack) stored(inst, prev *Instance) {
	if w == nil {
		return
	}
	if inst.Uploaded { // written through: only this node's cache grew
		if prev != nil {
			w.forgetPending(prev)
		}
		if w.localBytes.Add(inst.Size) > w.cfg.LocalBudget {
			w.poke(w.evictKick)
		}
		return
	}
	if prev != nil {
		w.forget(prev)
	}
	w.pendingObjects.Add(1)
	w.pendingBytes.Add(inst.Size)
	w.spoolBytes.Add(inst.Size)
	w.localBytes.Add(inst.Size)
	w.poke(w.kick)
}

// restored accounts for a Restore that made inst current again (replacing prev): its
// bytes are wherever the kept version's were, so it counts as pending only when it was
// never uploaded, and as local unless evicted.
func (w *writeBack) restored(inst, prev *Instance) {
	if w == nil {
		return
	}
	w.forget(prev)
	if !inst.Uploaded {
		w.pendingObjects.Add(1)
		w.pendingBytes.Add(inst.Size)
		if !inst.ReceivedAt.Before(w.since) {
			w.spoolBytes.Add(inst.Size)
		}
	}
	if !inst.Evicted {
		w.localBytes.Add(inst.Size)
	}
	w.poke(w.kick)
}

// forget removes a replaced record from the counters. Its blob is not touched: the index
// keeps it as a version, which is neither uploaded nor evicted from then on (a version
// replaced before its upload stays local only, one replaced after it stays where it was).
func (w *writeBack) forget(prev *Instance) {
	w.forgetPending(prev)
	if !prev.Evicted {
		w.localBytes.Add(-prev.Size)
	}
}

// forgetPending removes a replaced record from the upload counters, when it was pending.
func (w *writeBack) forgetPending(prev *Instance) {
	if !prev.Uploaded {
		w.pendingObjects.Add(-1)
		w.pendingBytes.Add(-prev.Size)
		if !prev.ReceivedAt.Before(w.since) {
			w.spoolBytes.Add(-prev.Size)
		}
	}
}

// dispatch feeds pending objects to the workers, oldest first, skipping those in flight,
// and sleeps while the remote store is backing off or there is nothing to do.
func (w *writeBack) dispatch(ctx context.Context, jobs chan<- BlobRef) {
	defer close(jobs)
	idle := time.NewTicker(30 * time.Second) // a safety net: kicks carry all real news
	defer idle.Stop()
	for ctx.Err() == nil {
		if d := w.pause(); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			continue
		}
		var batch []BlobRef
		now := time.Now()
		// The limit leaves room beyond what can be in flight (workers + the one in hand).
		err := w.a.idx.BlobRefs(ctx, RefsPending, 4*w.cfg.Workers+64, func(r BlobRef) error {
			w.mu.Lock()
			busy := w.inflight[r.SOPInstanceUID] || now.Before(w.skip[r.SOPInstanceUID])
			w.mu.Unlock()
			if !busy {
				batch = append(batch, r)
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("cannot read the upload queue from the index", "err", err)
				w.failed(err)
			}
			continue
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-w.kick:
			case <-idle.C:
			}
			continue
		}
		yielded := false
		for _, r := range batch {
			if w.pause() > 0 {
				break
			}
			if w.yielding(r) {
				yielded = true
				break // oldest first: the rest are younger still
			}
			w.mu.Lock()
			w.inflight[r.SOPInstanceUID] = true
			w.mu.Unlock()
			select {
			case jobs <- r:
			case <-ctx.Done():
				return
			}
		}
		if yielded {
			select {
			case <-ctx.Done():
				return
			case <-time.After(ingestGap / 2):
			}
		}
	}
}

func (w *writeBack) pause() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Until(w.pauseUntil)
}

// errLocalCopy marks failures of the local copy (missing, or not the bytes the index
// recorded): the remote store is not to blame and other uploads go on.
var errLocalCopy = errors.New("local copy")

// upload copies one object to the remote store after verifying that the local copy holds
// the bytes indexed (size and SHA-256; store/s3 then has the server verify a SHA-256
// checksum of what it received, and checks the stored size), then records it.
func (w *writeBack) upload(ctx context.Context, r BlobRef) {
	defer func() {
		w.mu.Lock()
		delete(w.inflight, r.SOPInstanceUID)
		w.mu.Unlock()
		w.poke(w.kick)
	}()
	// The dispatcher's list may predate an upload that finished just before r was handed
	// over (its record read before the commit, its in-flight mark cleared after): the index
	// says whether there is still work, so nothing is uploaded or counted twice.
	if inst, err := w.a.idx.Instance(ctx, r.SOPInstanceUID); err != nil || inst.BlobKey != r.BlobKey || inst.Uploaded {
		return
	}
	start := time.Now()
	err := w.copyUp(ctx, r)
	if ctx.Err() != nil {
		return // shutting down: still pending, redone after the next start
	}
	if errors.Is(err, errLocalCopy) {
		if w.cfg.WriteThrough && errors.Is(err, ErrNotFound) {
			// Received before write-through by another node, whose disk holds it (or lost:
			// Check reports that): nothing this node can upload, and no failure of its own.
			w.log.Debug("pending object not held by this node", "sop_instance_uid", r.SOPInstanceUID, "blob_key", r.BlobKey)
			w.skipFor(r, 10*time.Minute)
			return
		}
		w.failures.Add(1)
		// Is it still the indexed blob? A replaced or deleted record explains a missing file.
		inst, ierr := w.a.idx.Instance(ctx, r.SOPInstanceUID)
		if errors.Is(ierr, ErrNotFound) || (ierr == nil && inst.BlobKey != r.BlobKey) {
			return
		}
		w.log.Error("cannot upload: the local copy is damaged or gone; retrying in 10 min",
			"sop_instance_uid", r.SOPInstanceUID, "blob_key", r.BlobKey, "err", err)
		w.skipFor(r, 10*time.Minute)
		return
	}
	if err != nil {
		w.failed(err)
		return
	}
	err = w.a.idx.MarkUploaded(ctx, r.SOPInstanceUID, r.BlobKey)
	if errors.Is(err, ErrNotFound) {
		// Replaced or deleted while uploading: no record says this upload happened. A kept
		// version with this blob (the record replaced) says "not uploaded" and keeps its
		// local copy, which is never evicted; so the remote copy is referenced by nothing
		// that reads it. (The index never lets two records of one instance share a blob.)
		if err := w.a.remote.Delete(context.WithoutCancel(ctx), r.BlobKey); err != nil {
			w.log.Warn("cannot remove the upload of a replaced instance", "blob_key", r.BlobKey, "err", err)
		}
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("uploaded, but cannot record it in the index; will upload again", "sop_instance_uid", r.SOPInstanceUID, "err", err)
			w.failed(err)
		}
		return
	}
	w.pendingObjects.Add(-1)
	w.pendingBytes.Add(-r.Size)
	if !r.ReceivedAt.Before(w.since) {
		w.spoolBytes.Add(-r.Size)
	}
	w.uploaded(r)
	w.log.Debug("uploaded", "sop_instance_uid", r.SOPInstanceUID, "size", r.Size, "took", time.Since(start))
	w.poke(w.evictKick)
}

// skipFor leaves r out of the upload queue for d.
func (w *writeBack) skipFor(r BlobRef, d time.Duration) {
	w.mu.Lock()
	w.skip[r.SOPInstanceUID] = time.Now().Add(d)
	w.mu.Unlock()
}

// uploaded counts a verified upload, which also says that the remote store is reachable.
func (w *writeBack) uploaded(r BlobRef) {
	w.uploadedObjects.Add(1)
	w.uploadedBytes.Add(r.Size)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.downSince.IsZero() {
		w.log.Info("remote store reachable again", "down_for", time.Since(w.downSince).Round(time.Second))
	}
	w.backoff, w.downSince, w.refuseUntil = 0, time.Time{}, time.Time{}
	delete(w.skip, r.SOPInstanceUID)
	w.rate.add(time.Now(), r.Size)
}

func (w *writeBack) copyUp(ctx context.Context, r BlobRef) error {
	rc, err := w.a.blobs.Open(ctx, r.BlobKey)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("upload %s: %w: %w", r.BlobKey, errLocalCopy, err)
	}
	if err != nil {
		return fmt.Errorf("upload %s: open local copy: %w", r.BlobKey, err)
	}
	defer rc.Close()
	// Verify first, then upload the file itself: a damaged copy never starts an upload,
	// and the remote store may read the file by offset (parts in parallel, nothing
	// buffered) instead of as one stream. The second read comes from the page cache.
	v := &verifyReader{r: rc, h: sha256.New(), left: r.Size, want: r.SHA256}
	if _, err := io.Copy(io.Discard, ContextReader(ctx, v)); err != nil {
		if v.err != nil {
			return fmt.Errorf("upload %s: %w", r.BlobKey, v.err)
		}
		return fmt.Errorf("upload %s: read local copy: %w", r.BlobKey, err)
	}
	if _, err := rc.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("upload %s: read local copy: %w", r.BlobKey, err)
	}
	if err := w.a.remote.Put(ctx, r.BlobKey, rc, r.Size); err != nil {
		return fmt.Errorf("upload %s: %w", r.BlobKey, err)
	}
	return nil
}

// failed starts or lengthens the back-off after a remote failure.
func (w *writeBack) failed(err error) {
	w.failures.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.backoff == 0 {
		w.backoff = w.cfg.RetryMin
	} else {
		w.backoff = min(2*w.backoff, w.cfg.RetryMax)
	}
	w.pauseUntil = time.Now().Add(w.backoff)
	lvl := slog.LevelWarn
	if w.downSince.IsZero() {
		w.downSince = time.Now()
	} else if w.backoff == w.cfg.RetryMax {
		lvl = slog.LevelError
	}
	w.log.Log(context.Background(), lvl, "upload to the remote store failed; objects stay in the local spool",
		"err", err, "retry_in", w.backoff, "down_since", w.downSince.Format(time.RFC3339),
		"pending_objects", w.pendingObjects.Load(), "pending_bytes", w.pendingBytes.Load())
}

// verifyReader reads a local copy, failing at its end when the bytes are not the indexed
// ones (size and SHA-256).
type verifyReader struct {
	r    io.Reader
	h    hash.Hash
	left int64
	want string
	done bool
	err  error
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.done {
		return 0, io.EOF
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.left -= int64(n)
	if v.left == 0 {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			v.err = fmt.Errorf("%w: SHA-256 %s, indexed %s", errLocalCopy, got, v.want)
			return 0, v.err
		}
		// The file must end here too: a longer file is not the indexed object.
		var one [1]byte
		if m, _ := io.ReadFull(v.r, one[:]); m > 0 {
			v.err = fmt.Errorf("%w: longer than the indexed size", errLocalCopy)
			return 0, v.err
		}
		v.done = true
		return n, nil
	}
	if err == io.EOF {
		v.err = fmt.Errorf("%w: %d bytes shorter than indexed", errLocalCopy, v.left)
		return n, v.err
	}
	if err != nil {
		v.err = fmt.Errorf("read local copy: %w", err)
		return n, v.err
	}
	return n, nil
}

// evictLoop keeps the bytes of local copies within LocalBudget.
func (w *writeBack) evictLoop(ctx context.Context) {
	if w.cfg.LocalBudget < 0 {
		return
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.evictKick:
		case <-tick.C:
		}
		if err := w.evict(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("eviction of local copies stopped", "err", err)
		}
	}
}

// cached is the bytes of local copies of uploaded objects: what LocalBudget bounds.
func (w *writeBack) cached() int64 { return w.localBytes.Load() - w.pendingBytes.Load() }

func (w *writeBack) evict(ctx context.Context) error {
	if w.cfg.WriteThrough {
		return w.evictCache(ctx)
	}
	// One pass at a time (the loop's and Drain's): a pass that finds nothing left to evict
	// then knows the other has finished counting what it evicted.
	w.evictMu.Lock()
	defer w.evictMu.Unlock()
	for w.cached() > w.cfg.LocalBudget {
		var batch []BlobRef
		err := w.a.idx.BlobRefs(ctx, RefsEvictable, 256, func(r BlobRef) error {
			batch = append(batch, r)
			return nil
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, r := range batch {
			if w.cached() <= w.cfg.LocalBudget {
				return nil
			}
			if err := w.evictOne(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// evictOne removes one local copy. Under the instance's lock, so that a Put re-storing the
// same object (same key) cannot have its fresh local copy deleted; the index is updated
// first, so a crash leaves at worst a stray local file (reported and repaired by Check),
// never a record that promises a local copy the remote does not back.
func (w *writeBack) evictOne(ctx context.Context, r BlobRef) error {
	defer w.a.locks.lock(r.SOPInstanceUID)()
	err := w.a.idx.MarkEvicted(ctx, r.SOPInstanceUID, r.BlobKey)
	if errors.Is(err, ErrNotFound) {
		return nil // replaced meanwhile
	}
	if err != nil {
		return err
	}
	// Not cancelled by shutdown: the index already says evicted, and a local delete is quick.
	if err := w.a.blobs.Delete(context.WithoutCancel(ctx), r.BlobKey); err != nil {
		w.log.Warn("evicted in the index, but the local copy stays", "blob_key", r.BlobKey, "err", err)
	}
	w.localBytes.Add(-r.Size)
	w.evictedObjects.Add(1)
	w.evictedBytes.Add(r.Size)
	return nil
}

// writesThrough reports whether Put uploads before it indexes (UploadConfig.WriteThrough).
func (w *writeBack) writesThrough() bool { return w != nil && w.cfg.WriteThrough }

// writeThrough is Put's step between the durable local blob and the index (cluster mode):
// it copies inst's blob to the remote store, verified as upload does, so that the index
// records it as uploaded and every node can read it once it is acknowledged. undo removes
// the local blob of a Put that fails; writeThrough calls it when the upload fails, and
// returns the undo of a Put failing later, which removes the remote copy too. Without
// write-through it returns undo as it is. After a failed upload, Puts are refused at once
// (ErrUnavailable) for UploadConfig.RetryMin, so that an outage costs a modality one
// timeout, not one per object.
func (w *writeBack) writeThrough(ctx context.Context, inst, existing *Instance, undo func()) (func(), error) {
	if !w.writesThrough() {
		return undo, nil
	}
	op := "put " + inst.SOPInstanceUID + ": write through to the remote store"
	w.mu.Lock()
	down, retry := w.downSince, w.refuseUntil
	w.mu.Unlock()
	if time.Now().Before(retry) {
		undo()
		return nil, fmt.Errorf("%s: unreachable since %s: %w", op, down.Format(time.RFC3339), ErrUnavailable)
	}
	r := BlobRef{SOPInstanceUID: inst.SOPInstanceUID, BlobKey: inst.BlobKey, Size: inst.Size, SHA256: inst.SHA256}
	if err := w.copyUp(ctx, r); err != nil {
		undo()
		if ctx.Err() == nil && !errors.Is(err, errLocalCopy) {
			w.throughFailed(err)
		}
		return nil, ioError(op, err)
	}
	w.uploaded(r)
	return func() {
		undo()
		if w.a.blobInUse(ctx, inst, existing) {
			return
		}
		if err := w.a.remote.Delete(context.WithoutCancel(ctx), inst.BlobKey); err != nil {
			w.log.Warn("cannot remove the remote copy of a failed put", "blob_key", inst.BlobKey, "err", err)
		}
	}, nil
}

// throughFailed refuses Puts for RetryMin after a failed write-through: no growing back-off,
// since each Put is a modality waiting, and the next one after the pause tries again.
func (w *writeBack) throughFailed(err error) {
	w.failures.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refuseUntil = time.Now().Add(w.cfg.RetryMin)
	if w.downSince.IsZero() {
		w.downSince = time.Now()
		w.log.Warn("remote store unreachable: new objects are refused until it answers (write-through)",
			"err", err, "retry_in", w.cfg.RetryMin)
	}
}

// blobInUse reports whether a record other than the failed Put's may name inst's blob key,
// so that undoing the Put must not remove that blob: the record the Put found (the same
// content re-stored to repair it), a kept version with this content, or, in a cluster, the
// record another node committed for the same content meanwhile. When the index cannot
// tell, it answers true: a stray blob is harmless (Check reports it), a lost one is not.
func (a *Archive) blobInUse(ctx context.Context, inst, existing *Instance) bool {
	if existing != nil && existing.BlobKey == inst.BlobKey {
		return true
	}
	cur, err := a.idx.Instance(context.WithoutCancel(ctx), inst.SOPInstanceUID)
	switch {
	case err == nil && cur.BlobKey == inst.BlobKey:
		return true
	case err != nil && !errors.Is(err, ErrNotFound):
		return true
	}
	return a.keptVersion(ctx, inst)
}

// evictCache keeps this node's local copies within LocalBudget in write-through mode. The
// index cannot say which node holds what, so the local store's listing does: one pass
// sums its bytes by minute written, the second removes the oldest minutes' objects down
// to nine tenths of the budget (so that the next listing waits for a tenth of the budget
// to arrive). Memory stays one counter per minute, whatever the number of objects. Only a
// copy of an uploaded object that the index names is removed, under the instance's lock
// (a Put writing that key waits); nothing is recorded in the index: every other node keeps
// reading its own copy.
func (w *writeBack) evictCache(ctx context.Context) error {
	w.evictMu.Lock()
	defer w.evictMu.Unlock()
	// The budget bounds every local byte: the index's pending counts are every node's, and
	// the few objects pending from before write-through are never removed here.
	if w.listed && w.localBytes.Load() <= w.cfg.LocalBudget {
		return nil
	}
	byMinute := map[int64]int64{}
	var total int64
	err := w.a.blobs.List(ctx, func(bi BlobInfo) error {
		byMinute[bi.ModTime.Unix()/60] += bi.Size
		total += bi.Size
		return nil
	})
	if err != nil {
		return fmt.Errorf("list the local store: %w", err)
	}
	// Puts since the listing began may be counted twice until the next listing.
	w.localBytes.Store(total)
	w.listed = true
	if total <= w.cfg.LocalBudget {
		return nil
	}
	minutes := slices.Sorted(maps.Keys(byMinute))
	excess, last := total-(w.cfg.LocalBudget-w.cfg.LocalBudget/10), int64(0)
	for _, m := range minutes {
		last = m
		if excess -= byMinute[m]; excess <= 0 {
			break
		}
	}
	return w.a.blobs.List(ctx, func(bi BlobInfo) error {
		if bi.ModTime.Unix()/60 > last {
			return nil
		}
		return w.dropCached(ctx, bi)
	})
}

// dropCached removes one local copy if it is the uploaded blob of its instance's record.
func (w *writeBack) dropCached(ctx context.Context, bi BlobInfo) error {
	sop := keySOP(bi.Key)
	if sop == "" {
		return nil // not a blob Put wrote
	}
	defer w.a.locks.lock(sop)()
	inst, err := w.a.idx.Instance(ctx, sop)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // a leftover or a kept version's: Check's business
	case err != nil:
		return err
	case inst.BlobKey != bi.Key || !inst.Uploaded:
		return nil
	}
	if err := w.a.blobs.Delete(ctx, bi.Key); err != nil {
		return fmt.Errorf("remove cached copy %s: %w", bi.Key, err)
	}
	w.localBytes.Add(-bi.Size)
	w.evictedObjects.Add(1)
	w.evictedBytes.Add(bi.Size)
	return nil
}

// rateMeter is bytes per second over a sliding minute, in one-second buckets.
type rateMeter struct {
	buckets [60]int64
	last    int64 // unix second of the newest bucket
}

func (m *rateMeter) advance(now time.Time) {
	s := now.Unix()
	if s-m.last >= int64(len(m.buckets)) {
		m.buckets = [60]int64{}
	} else {
		for t := m.last + 1; t <= s; t++ {
			m.buckets[t%int64(len(m.buckets))] = 0
		}
	}
	if s > m.last {
		m.last = s
	}
}

func (m *rateMeter) add(now time.Time, n int64) {
	m.advance(now)
	m.buckets[now.Unix()%int64(len(m.buckets))] += n
}

func (m *rateMeter) perSecond(now time.Time) float64 {
	m.advance(now)
	var sum int64
	for _, b := range m.buckets {
		sum += b
	}
	return float64(sum) / float64(len(m.buckets))
}
