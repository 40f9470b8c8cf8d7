package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Recover runs at start-up, before the first Put: it removes spool files that never reached
// the index (no Put that wrote them returned success). Uploads still pending are resumed by
// Start. It does not compare the index with the stores: that walks every blob, which at a
// million instances would keep pacsd from listening for minutes; CheckInBackground does it
// once the server is up.
func (a *Archive) Recover(ctx context.Context) error {
	entries, err := os.ReadDir(a.cfg.SpoolDir)
	if err != nil {
		return fmt.Errorf("recover: read spool: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, spoolPrefix) || !strings.HasSuffix(name, spoolSuffix) {
			continue
		}
		if err := os.Remove(filepath.Join(a.cfg.SpoolDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("recover: remove spool file %s: %w", name, err)
		}
		removed++
	}
	if removed > 0 {
		a.log.Warn("removed spool files of unfinished puts", "count", removed)
	}
	return nil
}

// BackgroundCheck is a Check running on its own goroutine (CheckInBackground).
type BackgroundCheck struct {
	cancel context.CancelFunc
	done   chan struct{}
	c      Consistency
	err    error
}

// CheckInBackground starts the start-up consistency check (Check against the local store,
// reporting only, as `pacsd check` without --remote) and returns at once: it logs
// indexed objects whose blob is missing and blobs the index does not reference while the
// archive serves. Puts, uploads and evictions running meanwhile are not taken for damage
// (Check confirms each difference under the instance's lock). It deletes no blob: an
// unreferenced blob may be the only copy of something an operator wants back (`pacsd
// check --repair` removes them). Stop it before closing the index.
func (a *Archive) CheckInBackground(ctx context.Context) *BackgroundCheck {
	ctx, cancel := context.WithCancel(ctx)
	b := &BackgroundCheck{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		start := time.Now()
		b.c, b.err = a.Check(ctx, CheckOptions{})
		switch {
		case ctx.Err() != nil:
			a.log.Info("start-up consistency check stopped", "took", time.Since(start))
		case b.err != nil:
			a.log.Error("start-up consistency check failed", "err", b.err)
		default:
			a.log.Info("start-up consistency check done", "took", time.Since(start))
		}
	}()
	return b
}

// Wait waits for the check to end and returns what it found.
func (b *BackgroundCheck) Wait() (Consistency, error) {
	<-b.done
	return b.c, b.err
}

// Stop ends the check (at shutdown) and waits for it.
func (b *BackgroundCheck) Stop() {
	b.cancel()
	<-b.done
}

// CheckOptions say how deep Check looks and whether it repairs.
type CheckOptions struct {
	Remote bool // also list the remote store (one listing of the whole bucket)
	Hash   bool // read every object and compare its SHA-256 with the index
	// Repair removes blobs the index does not reference (local and, with Remote, remote)
	// and stale local copies of evicted objects, when they are older than Grace, and
	// records as evicted the uploaded objects whose local copy is gone. Grace protects
	// objects of Puts in flight, whose blob is written before their index entry.
	Repair bool
	Grace  time.Duration // 0 means one hour
}

// Consistency is what Check found. Missing is the one that means lost data.
type Consistency struct {
	Referenced   int // instances in the index
	Stored       int // objects in the local store
	Missing      int // indexed objects found nowhere: damage, logged at error level
	Unreferenced int // local objects the index does not reference (crash leftovers)
	StaleLocal   int // local copies of objects the index says were evicted
	LocalMissing int // uploaded objects whose local copy is gone though the index keeps it

	RemoteStored       int // with Remote: objects in the remote store
	RemoteMissing      int // uploaded per the index, absent remotely, still local (re-uploadable)
	RemoteUnreferenced int // remote objects the index does not reference

	HashMismatch int // with Hash: objects whose bytes are not the indexed ones
	Repaired     int // objects removed or records corrected by Repair
}

// Problems reports whether anything was found that an operator should look at.
func (c Consistency) Problems() bool {
	return c.Missing+c.Unreferenced+c.StaleLocal+c.LocalMissing+c.RemoteMissing+c.RemoteUnreferenced+c.HashMismatch > 0
}

// maxReported bounds the per-key log lines of one Check; the counts are always complete.
const maxReported = 100

// Flags of one index entry during a check.
const (
	refUploaded uint8 = 1 << iota
	refEvicted
	refLocal  // seen in the local store
	refRemote // seen in the remote store
)

// Check compares what the index references with what the blob stores hold and logs every
// difference (keys only, never patient data). It keeps 9 bytes per instance in memory (a
// hash of the key and flags, not the key), so 10M instances cost about 100 MB; a hash
// collision can only hide a difference, never invent one, so Repair never deletes a
// referenced blob. Puts, uploads, evictions and restores may run meanwhile (the start-up
// check runs while pacsd serves): the index is read first, so an entry the second pass
// meets that the first did not is new and not judged, and every other difference is
// confirmed under the instance's lock, which each of them holds from writing the blob or
// the index to writing the other, before it is reported or repaired. Grace keeps Repair
// off fresh objects besides.
func (a *Archive) Check(ctx context.Context, opts CheckOptions) (Consistency, error) {
	if opts.Grace <= 0 {
		opts.Grace = time.Hour
	}
	ck := &checker{
		a: a, ctx: ctx, opts: opts,
		cutoff:      time.Now().Add(-opts.Grace),
		refs:        refSet{seed: maphash.MakeSeed()},
		remoteKnown: opts.Remote && a.remote != nil,
	}
	if err := ck.readIndex(); err != nil {
		return ck.c, err
	}
	if err := a.blobs.List(ctx, ck.local); err != nil {
		return ck.c, fmt.Errorf("check: list local blobs: %w", err)
	}
	if ck.remoteKnown {
		if err := a.remote.List(ctx, ck.remote); err != nil {
			return ck.c, fmt.Errorf("check: list remote blobs: %w", err)
		}
	}
	// Second pass over the index: name each entry that is not where it should be, and
	// with Hash read it.
	if err := a.idx.BlobRefs(ctx, RefsAll, 0, ck.indexed); err != nil {
		return ck.c, fmt.Errorf("check: index: %w", err)
	}
	ck.summarize()
	return ck.c, nil
}

// checker is one run of Check.
type checker struct {
	a           *Archive
	ctx         context.Context
	opts        CheckOptions
	cutoff      time.Time // Repair removes only objects older than this
	refs        refSet
	remoteKnown bool // the remote store is listed
	c           Consistency
}

// readIndex takes every index entry into the set of references (the first pass).
func (ck *checker) readIndex() error {
	err := ck.a.idx.BlobRefs(ck.ctx, RefsAll, 0, func(r BlobRef) error {
		var f uint8
		if r.Uploaded {
			f |= refUploaded
		}
		if r.Evicted {
			f |= refEvicted
		}
		ck.refs.add(r.BlobKey, f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("check: index: %w", err)
	}
	ck.refs.sort()
	ck.c.Referenced = len(ck.refs.refs)
	return nil
}

// local looks at one object of the local store: referenced, or a leftover, or a stale
// copy of an evicted object.
func (ck *checker) local(bi BlobInfo) error {
	ck.c.Stored++
	m := ck.refs.find(bi.Key)
	stale := len(m) > 0
	for i := range m {
		m[i].flags |= refLocal
		stale = stale && m[i].flags&refEvicted != 0
	}
	if len(m) > 0 && !(stale && ck.a.remote != nil) {
		return nil
	}
	// A difference with the index as it was read, unless a Put or an eviction since then
	// explains it: look again under the instance's lock.
	defer ck.a.locks.lock(keySOP(bi.Key))()
	now, err := ck.now(bi.Key)
	switch {
	case err != nil:
		return err
	case !now.stored:
		return nil // removed since it was listed (a failed Put's blob, an eviction)
	case len(m) == 0 && !now.referenced:
		ck.report(&ck.c.Unreferenced, slog.LevelWarn, "local blob not referenced by the index", "blob_key", bi.Key)
		return ck.remove(ck.a.blobs, bi, "local")
	case len(m) > 0 && now.evicted && ck.a.remote != nil:
		ck.report(&ck.c.StaleLocal, slog.LevelInfo, "local copy of an evicted blob", "blob_key", bi.Key)
		return ck.remove(ck.a.blobs, bi, "local")
	}
	return nil
}

// blobNow is what the stores and the index say of one blob key at the moment of asking.
type blobNow struct {
	stored     bool // in the local store
	referenced bool // by the instance's current record or a kept version
	uploaded   bool // uploaded, says the record (current or version) that references it
	evicted    bool // its local copy given up, says that record
}

// now looks at key again: call it under the lock of the key's instance, so that no Put,
// eviction or restore of that instance is half-way.
func (ck *checker) now(key string) (blobNow, error) {
	var n blobNow
	rc, err := ck.a.blobs.Open(ck.ctx, key)
	switch {
	case err == nil:
		rc.Close()
		n.stored = true
	case !errors.Is(err, ErrNotFound):
		return n, fmt.Errorf("check: open local blob %s: %w", key, err)
	}
	sop := keySOP(key)
	if sop == "" {
		return n, nil // not a key Put makes: nothing can reference it
	}
	inst, err := ck.a.idx.Instance(ck.ctx, sop)
	switch {
	case err == nil && inst.BlobKey == key:
		n.referenced, n.uploaded, n.evicted = true, inst.Uploaded, inst.Evicted
		return n, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return n, fmt.Errorf("check: index: %w", err)
	}
	vs, err := ck.a.idx.Versions(ck.ctx, sop)
	if err != nil {
		return n, fmt.Errorf("check: index: %w", err)
	}
	for _, v := range vs {
		if v.BlobKey == key {
			n.referenced, n.uploaded, n.evicted = true, v.Uploaded, v.Evicted
		}
	}
	return n, nil
}

// keySOP returns the SOP Instance UID a blob key made by BlobKey names
// (<hash>/<study>/<series>/<sop>.<16 hex>.dcm), or "" for any other key.
func keySOP(key string) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	base, ok := strings.CutSuffix(name, ".dcm")
	if !ok || len(base) < 18 || base[len(base)-17] != '.' {
		return ""
	}
	if _, err := hex.DecodeString(base[len(base)-16:]); err != nil {
		return ""
	}
	return base[:len(base)-17]
}

// remote looks at one object of the remote store: referenced or a leftover.
func (ck *checker) remote(bi BlobInfo) error {
	ck.c.RemoteStored++
	m := ck.refs.find(bi.Key)
	if len(m) == 0 {
		ck.report(&ck.c.RemoteUnreferenced, slog.LevelWarn, "remote blob not referenced by the index", "blob_key", bi.Key)
		return ck.remove(ck.a.remote, bi, "remote")
	}
	for i := range m {
		m[i].flags |= refRemote
	}
	return nil
}

// indexed looks at one index entry after the listings: is its blob where the index says?
func (ck *checker) indexed(r BlobRef) error {
	a := ck.a
	m := ck.refs.find(r.BlobKey)
	if len(m) == 0 {
		return nil // indexed after the first pass: the listings may predate its blob
	}
	var f uint8
	for _, e := range m {
		f |= e.flags
	}
	local := f&refLocal != 0
	remote := f&refRemote != 0 || (!ck.remoteKnown && r.Uploaded && a.remote != nil)
	switch {
	case !local && !(r.Uploaded && remote):
		missing, err := ck.stillMissing(r, f&refRemote != 0)
		if err != nil || !missing {
			return err
		}
		ck.report(&ck.c.Missing, slog.LevelError, "indexed blob missing", "sop_instance_uid", r.SOPInstanceUID,
			"blob_key", r.BlobKey, "uploaded", r.Uploaded, "evicted", r.Evicted)
	case r.Uploaded && ck.remoteKnown && !remote:
		ck.report(&ck.c.RemoteMissing, slog.LevelError, "uploaded blob missing from the remote store (a local copy remains)",
			"sop_instance_uid", r.SOPInstanceUID, "blob_key", r.BlobKey)
	case !local && !r.Evicted && !a.wb.writesThrough(): // written through: a node's cache holds what it holds
		ck.report(&ck.c.LocalMissing, slog.LevelWarn, "local copy of an uploaded blob missing", "blob_key", r.BlobKey)
		if err := ck.markEvicted(r); err != nil {
			return err
		}
	}
	if ck.opts.Hash {
		if local {
			a.checkHash(ck.ctx, &ck.c, a.blobs, r, "local")
		}
		if r.Uploaded && a.remote != nil && remote {
			a.checkHash(ck.ctx, &ck.c, a.remote, r, "remote")
		}
	}
	return ck.ctx.Err()
}

// stillMissing looks again, under the instance's lock, at an indexed blob the listing did
// not find: a re-sent copy may have restored it since, or its record may be gone. Whether
// the remote store has it is what its listing found (listed), when it was listed.
func (ck *checker) stillMissing(r BlobRef, listed bool) (bool, error) {
	defer ck.a.locks.lock(r.SOPInstanceUID)()
	now, err := ck.now(r.BlobKey)
	if err != nil {
		return false, err
	}
	remote := listed || (!ck.remoteKnown && now.uploaded && ck.a.remote != nil)
	return now.referenced && !now.stored && !remote, nil
}

// markEvicted, with Repair, records that an uploaded object has no local copy left.
func (ck *checker) markEvicted(r BlobRef) error {
	if !ck.opts.Repair {
		return nil
	}
	if err := ck.a.idx.MarkEvicted(ck.ctx, r.SOPInstanceUID, r.BlobKey); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("check: %w", err)
	}
	ck.c.Repaired++
	return nil
}

// report counts one difference in *n and logs it while under maxReported.
func (ck *checker) report(n *int, lvl slog.Level, msg string, args ...any) {
	*n++
	if *n <= maxReported {
		ck.a.log.Log(ck.ctx, lvl, msg, args...)
	}
}

// remove, with Repair, deletes an object no index entry wants, unless it is younger than
// Grace (a Put or upload in flight).
func (ck *checker) remove(b Blobs, bi BlobInfo, where string) error {
	if !ck.opts.Repair || bi.ModTime.After(ck.cutoff) {
		return nil
	}
	if err := b.Delete(ck.ctx, bi.Key); err != nil {
		return fmt.Errorf("check: remove %s blob %s: %w", where, bi.Key, err)
	}
	ck.c.Repaired++
	return nil
}

// summarize logs what the check found, as a warning when there is anything to look at.
func (ck *checker) summarize() {
	c := &ck.c
	lvl := slog.LevelInfo
	if c.Problems() {
		lvl = slog.LevelWarn
	}
	ck.a.log.Log(ck.ctx, lvl, "archive consistency check", "referenced", c.Referenced, "stored", c.Stored,
		"missing", c.Missing, "unreferenced", c.Unreferenced, "stale_local", c.StaleLocal,
		"local_missing", c.LocalMissing, "remote_checked", ck.remoteKnown, "remote_stored", c.RemoteStored,
		"remote_missing", c.RemoteMissing, "remote_unreferenced", c.RemoteUnreferenced,
		"hash_checked", ck.opts.Hash, "hash_mismatch", c.HashMismatch, "repaired", c.Repaired)
}

// refSet is the index's blob keys as hashes with flags, sorted by hash.
type refSet struct {
	seed maphash.Seed
	refs []ref
}

type ref struct {
	h     uint64
	flags uint8
}

func (s *refSet) add(key string, flags uint8) {
	s.refs = append(s.refs, ref{maphash.String(s.seed, key), flags})
}

func (s *refSet) sort() {
	slices.SortFunc(s.refs, func(x, y ref) int { return cmp.Compare(x.h, y.h) })
}

// find returns the entries with key's hash (one, but for a collision).
func (s *refSet) find(key string) []ref {
	h := maphash.String(s.seed, key)
	i, _ := slices.BinarySearchFunc(s.refs, h, func(r ref, h uint64) int { return cmp.Compare(r.h, h) })
	j := i
	for j < len(s.refs) && s.refs[j].h == h {
		j++
	}
	return s.refs[i:j]
}

// checkHash reads one object and compares its size and SHA-256 with the index.
func (a *Archive) checkHash(ctx context.Context, c *Consistency, b Blobs, r BlobRef, where string) {
	rc, err := b.Open(ctx, r.BlobKey)
	if errors.Is(err, ErrNotFound) {
		return // removed since it was listed: the listing decided
	}
	var n int64
	h := sha256.New()
	if err == nil {
		n, err = io.Copy(h, ContextReader(ctx, rc))
		rc.Close()
	}
	if err != nil {
		c.HashMismatch++
		a.log.Error("cannot read blob to check its hash", "where", where, "blob_key", r.BlobKey, "err", err)
		return
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != r.Size || got != r.SHA256 {
		c.HashMismatch++
		if c.HashMismatch <= maxReported {
			a.log.Error("blob content differs from the index", "where", where, "blob_key", r.BlobKey,
				"size", n, "indexed_size", r.Size, "sha256", got, "indexed_sha256", r.SHA256)
		}
	}
}
