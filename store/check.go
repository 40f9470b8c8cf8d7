package store

import (
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
// the index (no Put that wrote them returned success) and then checks the index against the
// local store (Check without the remote store, which `pacsd check` covers), reporting
// index entries whose blob is missing and blobs the index does not reference. Uploads still
// pending are resumed by Start. It deletes no blob: an unreferenced blob may be the only
// copy of something an operator wants back (`pacsd check --repair` removes them).
func (a *Archive) Recover(ctx context.Context) error {
	entries, err := os.ReadDir(a.cfg.SpoolDir)
	if err != nil {
		return fmt.Errorf("recover: read spool: %w", err)
	}
	removed := 0
	for _, e := range entries {
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
	_, err = a.Check(ctx, CheckOptions{})
	return err
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
// referenced blob. Puts, uploads and evictions may run meanwhile: the index is read first,
// so they show up as harmless differences, and Grace keeps Repair off fresh objects.
func (a *Archive) Check(ctx context.Context, opts CheckOptions) (Consistency, error) {
	var c Consistency
	if opts.Grace <= 0 {
		opts.Grace = time.Hour
	}
	cutoff := time.Now().Add(-opts.Grace)
	seed := maphash.MakeSeed()
	type ref struct {
		h     uint64
		flags uint8
	}
	var refs []ref
	err := a.idx.BlobRefs(ctx, RefsAll, 0, func(r BlobRef) error {
		var f uint8
		if r.Uploaded {
			f |= refUploaded
		}
		if r.Evicted {
			f |= refEvicted
		}
		refs = append(refs, ref{maphash.String(seed, r.BlobKey), f})
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("check: index: %w", err)
	}
	slices.SortFunc(refs, func(x, y ref) int {
		switch {
		case x.h < y.h:
			return -1
		case x.h > y.h:
			return 1
		}
		return 0
	})
	c.Referenced = len(refs)
	// find returns the entries with key's hash (one, but for a collision).
	find := func(key string) []ref {
		h := maphash.String(seed, key)
		i, _ := slices.BinarySearchFunc(refs, h, func(r ref, h uint64) int {
			switch {
			case r.h < h:
				return -1
			case r.h > h:
				return 1
			}
			return 0
		})
		j := i
		for j < len(refs) && refs[j].h == h {
			j++
		}
		return refs[i:j]
	}
	report := func(n *int, lvl slog.Level, msg string, args ...any) {
		*n++
		if *n <= maxReported {
			a.log.Log(ctx, lvl, msg, args...)
		}
	}
	remove := func(b Blobs, bi BlobInfo, where string) error {
		if !opts.Repair || bi.ModTime.After(cutoff) {
			return nil
		}
		if err := b.Delete(ctx, bi.Key); err != nil {
			return fmt.Errorf("check: remove %s blob %s: %w", where, bi.Key, err)
		}
		c.Repaired++
		return nil
	}

	err = a.blobs.List(ctx, func(bi BlobInfo) error {
		c.Stored++
		m := find(bi.Key)
		if len(m) == 0 {
			report(&c.Unreferenced, slog.LevelWarn, "local blob not referenced by the index", "blob_key", bi.Key)
			return remove(a.blobs, bi, "local")
		}
		stale := true
		for i := range m {
			m[i].flags |= refLocal
			stale = stale && m[i].flags&refEvicted != 0
		}
		if stale && a.remote != nil {
			report(&c.StaleLocal, slog.LevelInfo, "local copy of an evicted blob", "blob_key", bi.Key)
			return remove(a.blobs, bi, "local")
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("check: list local blobs: %w", err)
	}
	if opts.Remote && a.remote != nil {
		err = a.remote.List(ctx, func(bi BlobInfo) error {
			c.RemoteStored++
			m := find(bi.Key)
			if len(m) == 0 {
				report(&c.RemoteUnreferenced, slog.LevelWarn, "remote blob not referenced by the index", "blob_key", bi.Key)
				return remove(a.remote, bi, "remote")
			}
			for i := range m {
				m[i].flags |= refRemote
			}
			return nil
		})
		if err != nil {
			return c, fmt.Errorf("check: list remote blobs: %w", err)
		}
	}

	// Second pass over the index: name each entry that is not where it should be, and
	// with Hash read it.
	remoteKnown := opts.Remote && a.remote != nil
	err = a.idx.BlobRefs(ctx, RefsAll, 0, func(r BlobRef) error {
		var f uint8
		for _, e := range find(r.BlobKey) {
			f |= e.flags
		}
		local := f&refLocal != 0
		remote := f&refRemote != 0 || (!remoteKnown && r.Uploaded && a.remote != nil)
		switch {
		case !local && !(r.Uploaded && remote):
			report(&c.Missing, slog.LevelError, "indexed blob missing", "sop_instance_uid", r.SOPInstanceUID,
				"blob_key", r.BlobKey, "uploaded", r.Uploaded, "evicted", r.Evicted)
		case r.Uploaded && remoteKnown && !remote:
			report(&c.RemoteMissing, slog.LevelError, "uploaded blob missing from the remote store (a local copy remains)",
				"sop_instance_uid", r.SOPInstanceUID, "blob_key", r.BlobKey)
		case !local && !r.Evicted:
			report(&c.LocalMissing, slog.LevelWarn, "local copy of an uploaded blob missing", "blob_key", r.BlobKey)
			if opts.Repair {
				if err := a.idx.MarkEvicted(ctx, r.SOPInstanceUID, r.BlobKey); err != nil && !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("check: %w", err)
				}
				c.Repaired++
			}
		}
		if opts.Hash {
			if local {
				a.checkHash(ctx, &c, a.blobs, r, "local")
			}
			if r.Uploaded && a.remote != nil && remote {
				a.checkHash(ctx, &c, a.remote, r, "remote")
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return c, fmt.Errorf("check: index: %w", err)
	}
	lvl := slog.LevelInfo
	if c.Problems() {
		lvl = slog.LevelWarn
	}
	a.log.Log(ctx, lvl, "archive consistency check", "referenced", c.Referenced, "stored", c.Stored,
		"missing", c.Missing, "unreferenced", c.Unreferenced, "stale_local", c.StaleLocal,
		"local_missing", c.LocalMissing, "remote_checked", remoteKnown, "remote_stored", c.RemoteStored,
		"remote_missing", c.RemoteMissing, "remote_unreferenced", c.RemoteUnreferenced,
		"hash_checked", opts.Hash, "hash_mismatch", c.HashMismatch, "repaired", c.Repaired)
	return c, nil
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
