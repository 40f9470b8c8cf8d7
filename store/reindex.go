package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"pacsd/dicom"
)

// ReindexOptions say how Reindex attributes what the objects do not say.
type ReindexOptions struct {
	// Site returns the Origin.Site of an object whose File Meta names the AE title that
	// sent it over DIMSE (ingest writes the calling AE there): from the peers registry,
	// as ingest would have. Nil, or an object without one: no site.
	Site func(ctx context.Context, callingAE string) (string, error)
	// Indexed, when set, is called with each object indexed (or found already indexed)
	// and its header, for what other records the objects carry (the reports' SR). Called
	// from several goroutines.
	Indexed func(ctx context.Context, inst *Instance, hdr *dicom.Header) error
	// Progress, when set, is called about every few seconds with the counts so far.
	Progress func(ReindexStats)
	// Workers read and parse objects at once (a bucket's latency is hidden by several). 0: 4.
	Workers int
	// Force runs on an index that already has instances and was not being rebuilt.
	Force bool
}

// ReindexStats count what Reindex did.
type ReindexStats struct {
	Objects    int64 // listed
	Indexed    int64 // new records: current instances and kept versions
	Versions   int64 // of Indexed, objects that are an earlier version of an instance
	Known      int64 // already in the index (a second run)
	Unreadable int64 // not a Part-10 object pacsd could have stored (logged)
	Bytes      int64 // read
}

// settingReindex is set when a Reindex begins: the index is (being) rebuilt from the
// objects.
const settingReindex = "reindex_started"

// reindexRead is one object read for Reindex.
type reindexRead struct {
	inst *Instance
	hdr  *dicom.Header
}

// Reindex rebuilds the index from the objects alone, when the index and its replica are
// lost: every object of the remote store (with one) and of the local store is read once
// (its SHA-256 is the index's), its header parsed as Put parses it (describe), and a
// record written with the same columns. What the objects do not hold is derived or lost:
// ReceivedAt is when the object was written to the store (its upload, for the bucket);
// Origin.CallingAE is the File Meta's Source Application Entity Title, which ingest sets to
// the calling AE (Transport "dimse"; others "reindex"); Origin.Site comes from opts.Site;
// the called AE, remote address and quarantine are lost. Several objects of one SOP
// instance (kept versions: their keys differ by content hash) are told apart by write
// time: the newest is current and the others are kept as versions, as Put keeps them (a
// version made current again by an administrator's restore comes back as a version).
// Objects uploaded are recorded as uploaded, and evicted unless the local store has them;
// local-only objects wait for upload.
//
// It is idempotent: an object whose record (current or version) exists is left as it is,
// so an interrupted run is resumed by running it again.
//
// It refuses (ErrConflict) an index that has instances and was not being rebuilt, unless
// opts.Force: that index is the record of what was received, which the objects only
// partly hold (sites, senders, which version an administrator restored), and adding
// what it may have dropped on purpose would mix two histories. A run marks the index as
// being rebuilt first, so that running it again after an interruption needs no Force.
func (a *Archive) Reindex(ctx context.Context, opts ReindexOptions) (ReindexStats, error) {
	started, err := a.idx.Setting(ctx, settingReindex)
	if err != nil {
		return ReindexStats{}, fmt.Errorf("reindex: %w", err)
	}
	u, err := a.idx.Usage(ctx)
	if err != nil {
		return ReindexStats{}, fmt.Errorf("reindex: %w", err)
	}
	if u.Instances > 0 && started == "" && !opts.Force {
		return ReindexStats{}, fmt.Errorf("reindex: the index already has %d instances and is not being rebuilt: it knows "+
			"more than the objects (sites, senders, restored versions); rebuild into an empty data dir, or force: %w",
			u.Instances, ErrConflict)
	}
	if started == "" {
		if err := a.idx.SetSetting(ctx, settingReindex, a.cfg.now().UTC().Format(time.RFC3339)); err != nil {
			return ReindexStats{}, fmt.Errorf("reindex: %w", err)
		}
	}
	r := &reindexer{a: a, opts: opts}
	if r.opts.Workers <= 0 {
		r.opts.Workers = 4
	}
	done := make(chan struct{})
	defer close(done)
	if opts.Progress != nil {
		go func() {
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					opts.Progress(r.stats())
				}
			}
		}()
	}
	if a.remote != nil {
		if err := r.run(ctx, a.remote, true); err != nil {
			return r.stats(), err
		}
	}
	if err := r.run(ctx, a.blobs, false); err != nil {
		return r.stats(), err
	}
	return r.stats(), nil
}

// reindexer is one run of Reindex.
type reindexer struct {
	a                                                    *Archive
	opts                                                 ReindexOptions
	objects, indexed, versions, known, unreadable, bytes atomic.Int64
}

func (r *reindexer) stats() ReindexStats {
	return ReindexStats{Objects: r.objects.Load(), Indexed: r.indexed.Load(), Versions: r.versions.Load(),
		Known: r.known.Load(), Unreadable: r.unreadable.Load(), Bytes: r.bytes.Load()}
}

// run indexes every object of one store, remote or local, with Workers goroutines.
func (r *reindexer) run(ctx context.Context, b Blobs, remote bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	keys := make(chan BlobInfo)
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bi := range keys {
				if err := r.one(ctx, b, bi, remote); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	err := b.List(ctx, func(bi BlobInfo) error {
		select {
		case keys <- bi:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(keys)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		err = cause
	}
	if err != nil {
		where := "local"
		if remote {
			where = "remote"
		}
		return fmt.Errorf("reindex %s store: %w", where, err)
	}
	return nil
}

// one reads and indexes one object.
func (r *reindexer) one(ctx context.Context, b Blobs, bi BlobInfo, remote bool) error {
	r.objects.Add(1)
	rd, err := r.read(ctx, b, bi)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNoSpace) {
			return err // the store failed, not the object: stop; a second run resumes
		}
		r.unreadable.Add(1)
		r.a.log.Warn("reindex: object skipped", "blob_key", bi.Key, "err", err)
		return nil
	}
	inst := rd.inst
	if err := r.record(ctx, inst, bi, remote); err != nil {
		return err
	}
	if r.opts.Indexed != nil {
		return r.opts.Indexed(ctx, inst, rd.hdr)
	}
	return nil
}

// read reads one object whole: its header parsed as Put parses it, its size and SHA-256.
func (r *reindexer) read(ctx context.Context, b Blobs, bi BlobInfo) (reindexRead, error) {
	rc, err := b.Open(ctx, bi.Key)
	if err != nil {
		return reindexRead{}, ioError("open "+bi.Key, err)
	}
	defer rc.Close()
	h := sha256.New()
	// No size limit: the object was accepted once, whatever --max-object-mb says now.
	src := &sourceReader{ctx: ctx, r: rc, max: 1 << 62}
	br := bufio.NewReaderSize(io.TeeReader(src, h), 64<<10)
	hdr, err := dicom.ReadPart10(br, dicom.ReadOptions{FallbackCharset: r.a.cfg.FallbackCharset})
	switch {
	case src.err != nil:
		return reindexRead{}, ioError("read "+bi.Key, src.err) // the store's failure, not the object's
	case err != nil:
		return reindexRead{}, fmt.Errorf("read header: %w: %w", err, ErrInvalid)
	}
	inst, err := describe(hdr, PutRequest{})
	if err != nil {
		return reindexRead{}, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return reindexRead{}, ioError("read "+bi.Key, err)
	}
	r.bytes.Add(src.n)
	inst.Size = src.n
	inst.SHA256 = hex.EncodeToString(h.Sum(nil))
	inst.BlobKey = bi.Key
	if want := BlobKey(inst.StudyInstanceUID, inst.SeriesInstanceUID, inst.SOPInstanceUID, inst.SHA256); want != bi.Key {
		// Not where Put would have put it: damaged (the content hash in the key differs)
		// or put there by something else. Indexed where it is, so that it can be read.
		r.a.log.Warn("reindex: object is not under the key its content gives", "blob_key", bi.Key, "expected_key", want)
	}
	inst.ReceivedAt = bi.ModTime.UTC()
	if bi.ModTime.IsZero() {
		inst.ReceivedAt = r.a.cfg.now().UTC()
	}
	inst.Origin.Transport = "reindex"
	if hdr.Meta != nil {
		if ae := hdr.Meta.String(dicom.TagSourceApplicationEntityTitle); ae != "" {
			inst.Origin.Transport, inst.Origin.CallingAE = "dimse", ae
		}
	}
	return reindexRead{inst: inst, hdr: hdr}, nil
}

// record writes inst's record unless the index has it, keeping the newest object of an
// instance current and the others as versions. Under the instance's lock: two versions of
// one instance may be read by two workers at once.
func (r *reindexer) record(ctx context.Context, inst *Instance, bi BlobInfo, remote bool) error {
	defer r.a.locks.lock(inst.SOPInstanceUID)()
	if inst.Origin.CallingAE != "" && r.opts.Site != nil {
		site, err := r.opts.Site(ctx, inst.Origin.CallingAE)
		if err != nil {
			return fmt.Errorf("reindex %s: site: %w", inst.SOPInstanceUID, err)
		}
		inst.Origin.Site = site
	}
	inst.Uploaded, inst.Evicted = remote, false
	if remote {
		local, err := r.a.blobs.Open(ctx, inst.BlobKey)
		switch {
		case err == nil:
			local.Close()
		case errors.Is(err, ErrNotFound):
			inst.Evicted = true
		default:
			return ioError("reindex "+inst.SOPInstanceUID+": local copy", err)
		}
	}
	cur, err := r.a.idx.Instance(ctx, inst.SOPInstanceUID)
	switch {
	case errors.Is(err, ErrNotFound):
		return r.put(ctx, inst, false)
	case err != nil:
		return indexError("reindex "+inst.SOPInstanceUID, err)
	case cur.BlobKey == inst.BlobKey:
		r.known.Add(1)
		return nil
	}
	vs, err := r.a.idx.Versions(ctx, inst.SOPInstanceUID)
	if err != nil {
		return indexError("reindex "+inst.SOPInstanceUID+": versions", err)
	}
	for _, v := range vs {
		if v.BlobKey == inst.BlobKey {
			r.known.Add(1)
			return nil
		}
	}
	if !inst.ReceivedAt.Before(cur.ReceivedAt) {
		return r.put(ctx, inst, false) // newer: current, and cur a version
	}
	// An earlier version. PutInstance keeps what it replaces: putting this one and then
	// the current one again leaves the current one current and this one kept.
	if err := r.put(ctx, inst, true); err != nil {
		return err
	}
	if _, err := r.a.idx.PutInstance(ctx, cur); err != nil {
		return indexError("reindex "+inst.SOPInstanceUID+": current again", err)
	}
	return nil
}

func (r *reindexer) put(ctx context.Context, inst *Instance, version bool) error {
	prev, err := r.a.idx.PutInstance(ctx, inst)
	if err != nil {
		return indexError("reindex "+inst.SOPInstanceUID, err)
	}
	r.indexed.Add(1)
	if version || prev != nil {
		r.versions.Add(1)
	}
	return nil
}
