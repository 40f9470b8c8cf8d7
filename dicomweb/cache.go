package dicomweb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"pacsd/internal/flight"
	"pacsd/internal/lru"
	"pacsd/store"
	"pacsd/store/derived"
)

// The metadata cache (DESIGN.md section 4: metadata is built once and cached). Two layers:
//
//   - instance records (record.go), one file per stored object version under
//     Config.CacheDir, named by SOP Instance UID and content SHA-256: a replaced instance
//     has a new name, so a stale record is never served, and survives restarts;
//   - an in-memory LRU bounded by bytes, holding instance records and the assembled
//     metadata bodies of series and studies (metadata.go).
//
// Everything in it can be rebuilt from the archive, so files are written without fsync and
// a file that does not read back whole is rebuilt.

// maxRecordFile bounds what is read back from a cache file (a record is kilobytes; a
// multi-frame object's frame table, at most tens of megabytes).
const maxRecordFile = 256 << 20

// newCache returns an in-memory cache of maxBytes. A value costing more than half the
// budget is not kept: it would push out everything else for one request's benefit.
func newCache[V any](maxBytes int64) *lru.Cache[string, V] {
	return lru.New[string, V](maxBytes, maxBytes/2)
}

// metaCache builds, keeps and hands out instance records.
type metaCache struct {
	dir      string // "" keeps records in memory only
	mem      *lru.Cache[string, *instanceRecord]
	fallback string // character set for undeclared non-UTF-8 text (dicom.ReadOptions)
	log      *slog.Logger
	open     func(ctx context.Context, sop string) (*store.Instance, io.ReadSeekCloser, error)
	// shared: a cluster's records (store/derived). A record built here is put there, and
	// one missing here is looked for there before it is built, so each is built once
	// across the nodes (twice at most when two nodes miss at once). nil: this node only.
	shared derived.Store

	// One build per record at a time: later requests for it wait instead of building too.
	flights flight.Group[*instanceRecord]

	builds  atomic.Int64 // records built from objects (not read from files or shared)
	fetched atomic.Int64 // records got from shared (another node built them)
}

func recordKey(sop, sha string) string { return "i:" + sop + "." + sha }

// record returns the record of the object rec describes. If the instance has been
// replaced since rec was read, the record describes what is stored now; callers use the
// record's own UIDs and SHA-256.
func (m *metaCache) record(ctx context.Context, rec *store.Instance) (*instanceRecord, error) {
	return m.recordOf(ctx, rec, false)
}

// recordOf is record; stored says the caller is the warmer, after this node stored rec
// (load does not ask the shared store first then).
func (m *metaCache) recordOf(ctx context.Context, rec *store.Instance, stored bool) (*instanceRecord, error) {
	key := recordKey(rec.SOPInstanceUID, rec.SHA256)
	if ir, ok := m.mem.Get(key); ok {
		return ir, nil
	}
	ir, _, err := m.flights.Do(ctx, key, func() (*instanceRecord, error) {
		// The build is short (headers only) and shared: it is not cut short because the
		// client that started it went away while others wait for it.
		ir, err := m.load(context.WithoutCancel(ctx), rec, stored)
		if err == nil {
			m.mem.Add(recordKey(ir.SOPInstanceUID, ir.SHA256), ir, ir.cost())
		}
		return ir, err
	})
	return ir, err
}

// has reports whether rec's record is built: in memory, or in its file.
func (m *metaCache) has(rec *store.Instance) bool {
	if _, ok := m.mem.Get(recordKey(rec.SOPInstanceUID, rec.SHA256)); ok {
		return true
	}
	if m.dir == "" {
		return false
	}
	_, err := os.Stat(m.recordPath(rec.SOPInstanceUID, rec.SHA256))
	return err == nil
}

// load reads the record's file, or builds the record from the object (and writes the file).
// In a cluster it first looks for the record another node built (shared), except after
// this node stored rec (stored): the key names this content, which no other node can have
// described before it was stored.
func (m *metaCache) load(ctx context.Context, rec *store.Instance, stored bool) (*instanceRecord, error) {
	if m.dir != "" {
		if ir, err := m.readFile(rec.SOPInstanceUID, rec.SHA256); err == nil {
			return ir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("metadata cache file unusable; rebuilding", "sop_instance_uid", rec.SOPInstanceUID, "err", err)
		}
	}
	if !stored {
		if ir := m.getShared(ctx, rec); ir != nil {
			m.fetched.Add(1)
			m.keepFile(ir)
			return ir, nil
		}
	}
	got, rc, err := m.open(ctx, rec.SOPInstanceUID)
	if err != nil {
		return nil, fmt.Errorf("open instance %s: %w", rec.SOPInstanceUID, err)
	}
	defer rc.Close()
	ir, err := buildRecord(got, rc, m.fallback)
	if err != nil {
		return nil, fmt.Errorf("describe instance %s: %w", got.SOPInstanceUID, err)
	}
	m.builds.Add(1)
	m.keepFile(ir)
	if m.shared != nil {
		if b, err := json.Marshal(ir); err != nil {
			m.log.Warn("cannot encode metadata record to share", "sop_instance_uid", ir.SOPInstanceUID, "err", err)
		} else if err := m.shared.Put(ctx, sharedRecordKey(ir.SOPInstanceUID, ir.SHA256), b); err != nil {
			m.log.Warn("cannot share metadata record; other nodes build their own", "sop_instance_uid", ir.SOPInstanceUID, "err", err)
		}
	}
	return ir, nil
}

// sharedRecordKey names a record in metaCache.shared: by SOP Instance UID and content
// SHA-256, as its file is named.
func sharedRecordKey(sop, sha string) string { return derived.Key("metadata", sop, sha, "json") }

// getShared returns rec's record from the shared store, or nil when it is not there (or
// unusable: then it is built here).
func (m *metaCache) getShared(ctx context.Context, rec *store.Instance) *instanceRecord {
	if m.shared == nil {
		return nil
	}
	b, err := m.shared.Get(ctx, sharedRecordKey(rec.SOPInstanceUID, rec.SHA256))
	if err != nil {
		if !derived.IsMissing(err) {
			m.log.Warn("cannot get a shared metadata record; building it here", "sop_instance_uid", rec.SOPInstanceUID, "err", err)
		}
		return nil
	}
	ir, err := decodeRecord(b, rec.SOPInstanceUID, rec.SHA256)
	if err != nil {
		m.log.Warn("shared metadata record unusable; building it here", "sop_instance_uid", rec.SOPInstanceUID, "err", err)
		return nil
	}
	return ir
}

// keepFile writes ir's cache file, when records are kept in files.
func (m *metaCache) keepFile(ir *instanceRecord) {
	if m.dir == "" {
		return
	}
	if err := m.writeFile(ir); err != nil {
		m.log.Warn("cannot write metadata cache file", "sop_instance_uid", ir.SOPInstanceUID, "err", err)
	}
}

// recordPath is where the record of one object version lives: a folder from the hash of
// the SOP Instance UID (256 folders share the files out), then UID and content hash. UIDs
// are checked (digits and dots) before they get here, so the name is a safe file name.
func (m *metaCache) recordPath(sop, sha string) string {
	h := sha256.Sum256([]byte(sop))
	return filepath.Join(m.dir, hex.EncodeToString(h[:1]), sop+"."+sha+".json")
}

func (m *metaCache) readFile(sop, sha string) (*instanceRecord, error) {
	f, err := os.Open(m.recordPath(sop, sha))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecordFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecordFile {
		return nil, fmt.Errorf("cache file larger than %d bytes", maxRecordFile)
	}
	return decodeRecord(b, sop, sha)
}

// decodeRecord reads back a record (a cache file's or a shared one) and checks that it is
// of this version of pacsd and of the object version asked for.
func decodeRecord(b []byte, sop, sha string) (*instanceRecord, error) {
	var ir instanceRecord
	if err := json.Unmarshal(b, &ir); err != nil {
		return nil, fmt.Errorf("decode cache file: %w", err)
	}
	if ir.Version != recordVersion || ir.SOPInstanceUID != sop || ir.SHA256 != sha || !json.Valid(ir.Metadata) {
		return nil, fmt.Errorf("cache file of version %d for %s/%s", ir.Version, ir.SOPInstanceUID, ir.SHA256)
	}
	return &ir, nil
}

// writeFile stores a record (write to a temporary name, rename into place) and removes the
// files of earlier versions of the same instance.
func (m *metaCache) writeFile(ir *instanceRecord) error {
	path := m.recordPath(ir.SOPInstanceUID, ir.SHA256)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	b, err := json.Marshal(ir)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return werr
	}
	// Earlier versions: exactly "<sop>.<64 hex>.json" with another hash (a prefix match
	// alone would also catch UIDs that merely start with this one).
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, ir.SOPInstanceUID+".")
		if !ok || len(rest) != 64+len(".json") || !strings.HasSuffix(rest, ".json") || name == filepath.Base(path) {
			continue
		}
		if _, err := hex.DecodeString(strings.TrimSuffix(rest, ".json")); err != nil {
			continue
		}
		os.Remove(filepath.Join(dir, name))
	}
	return nil
}
