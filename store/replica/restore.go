package replica

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Restored says what Restore rebuilt.
type Restored struct {
	DB         string
	Generation string
	Snapshot   time.Time // when the snapshot was taken
	Segments   int       // WAL segments applied after it
	Frames     int
	Through    time.Time // when the last applied segment was shipped: the recovery point
	// Stopped, when not empty, says why segments after the last applied one were not
	// applied (a gap or a damaged object); they would not have continued the database.
	Stopped string
}

// Databases lists the names of the databases the bucket holds replicas of.
func Databases(ctx context.Context, b Bucket) ([]string, error) {
	var names []string
	err := b.List(ctx, "", func(name string, size int64) error {
		db, _, ok := strings.Cut(name, "/")
		if ok && !slices.Contains(names, db) {
			names = append(names, db)
		}
		return nil
	})
	return names, err
}

// Restore rebuilds the database db at dest from the newest generation whose snapshot
// reads back whole (an older one otherwise): the snapshot, then every WAL segment after it
// that continues it (same generation, consecutive numbers, the WAL checksum chain
// unbroken), each applied as SQLite's checkpoint would, whole transactions only. The result
// must pass PRAGMA integrity_check before it is moved to dest, which must not exist.
func Restore(ctx context.Context, b Bucket, db, dest string, log *slog.Logger) (Restored, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "replica", "db", db)
	if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
		return Restored{}, fmt.Errorf("restore %s: %s exists", db, dest)
	}
	l, err := list(ctx, b, db)
	if err != nil {
		return Restored{}, fmt.Errorf("restore %s: %w", db, err)
	}
	var gens []string
	for g, gl := range l.gens {
		if gl.snapshot {
			gens = append(gens, g)
		}
	}
	if len(gens) == 0 {
		return Restored{}, fmt.Errorf("restore %s: no snapshot in the bucket", db)
	}
	slices.Sort(gens)
	slices.Reverse(gens)
	var errs []error
	for _, g := range gens {
		res, err := restoreGeneration(ctx, b, db, g, l.gens[g], dest, log)
		if err == nil {
			return res, nil
		}
		log.Warn("replica: generation unusable; trying an older one", "generation", g, "err", err)
		errs = append(errs, fmt.Errorf("generation %s: %w", g, err))
		if ctx.Err() != nil {
			break
		}
	}
	return Restored{}, fmt.Errorf("restore %s: %w", db, errors.Join(errs...))
}

func restoreGeneration(ctx context.Context, b Bucket, db, gen string, gl *genListing, dest string, log *slog.Logger) (Restored, error) {
	res := Restored{DB: db, Generation: gen}
	tmp := dest + ".restoring"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
	}
	defer os.Remove(tmp)
	snap, err := fetchSnapshot(ctx, b, snapshotName(db, gen), tmp)
	if err != nil {
		return res, err
	}
	res.Snapshot, res.Through = snap.Time, snap.Time
	pos, err := snapshotPos(snap)
	if err != nil {
		return res, err
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return res, err
	}
	defer f.Close()
	for seq := uint64(1); ; seq++ {
		if !gl.segments[seq] {
			if later := laterSegments(gl, seq); later > 0 {
				res.Stopped = fmt.Sprintf("segment %d is missing; %d later ones not applied", seq, later)
			}
			break
		}
		h, body, err := fetchSegment(ctx, b, segmentName(db, gen, seq))
		if err == nil {
			pos, err = applySegment(f, pos, h, body)
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			// A damaged segment (a torn upload, a flipped bit) ends what can be applied:
			// the ones after it would not continue the database.
			res.Stopped = fmt.Sprintf("segment %d: %v", seq, err)
			break
		}
		res.Segments++
		res.Frames += int(h.Frames)
		res.Through = h.Time
	}
	if res.Stopped != "" {
		log.Warn("replica: restore stops early", "generation", gen, "reason", res.Stopped)
	}
	if err := f.Sync(); err != nil {
		return res, err
	}
	if err := f.Close(); err != nil {
		return res, err
	}
	if err := integrityCheck(ctx, tmp); err != nil {
		return res, err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return res, err
	}
	if d, err := os.Open(filepath.Dir(dest)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	log.Info("replica: restored", "generation", gen, "snapshot", res.Snapshot, "segments", res.Segments, "through", res.Through)
	return res, nil
}

func laterSegments(gl *genListing, after uint64) int {
	n := 0
	for s := range gl.segments {
		if s > after {
			n++
		}
	}
	return n
}

// fetchSnapshot writes the snapshot's database to path and returns its header.
func fetchSnapshot(ctx context.Context, b Bucket, name, path string) (header, error) {
	rc, err := b.Get(ctx, name)
	if err != nil {
		return header{}, err
	}
	defer rc.Close()
	h, body, err := openObject(rc)
	if err != nil {
		return header{}, fmt.Errorf("%s: %w", name, err)
	}
	if h.Kind != "snapshot" {
		return header{}, fmt.Errorf("%s: %w: kind %q", name, errDamaged, h.Kind)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return header{}, err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return header{}, fmt.Errorf("%s: %w", name, err)
	}
	return h, f.Close()
}

func fetchSegment(ctx context.Context, b Bucket, name string) (header, []byte, error) {
	rc, err := b.Get(ctx, name)
	if err != nil {
		return header{}, nil, err
	}
	defer rc.Close()
	h, body, err := openObject(rc)
	if err != nil {
		return header{}, nil, err
	}
	if h.Kind != "wal" || h.Size > 1<<31 {
		return header{}, nil, fmt.Errorf("%w: kind %q, %d bytes", errDamaged, h.Kind, h.Size)
	}
	frames, err := io.ReadAll(body)
	return h, frames, err
}

// snapshotPos is the WAL position a snapshot was taken at.
func snapshotPos(h header) (walPos, error) {
	if h.WALHeader == nil {
		return walPos{}, nil
	}
	wh, err := parseWALHeader(h.WALHeader)
	if err != nil {
		return walPos{}, fmt.Errorf("snapshot: %w", err)
	}
	return walPos{hdr: wh, frames: h.First, sum: h.Start}, nil
}

// applySegment checks that the segment continues pos (the same WAL right after it, or the
// WAL SQLite restarted it into), then writes its pages into f and gives the file the
// database's size after the segment, as SQLite's checkpoint of the same frames would; it
// returns the position after it. The frames' own checksums were checked when the segment
// was made; the body's SHA-256 (openObject) says it arrived as made.
func applySegment(f *os.File, pos walPos, h header, body []byte) (walPos, error) {
	wh, err := parseWALHeader(h.WALHeader)
	if err != nil {
		return pos, fmt.Errorf("%w: %w", errDamaged, err)
	}
	from := pos
	switch {
	case pos.valid() && pos.hdr.salt == wh.salt:
	case !pos.valid() || continues(pos.hdr, wh):
		from = walPos{hdr: wh, sum: wh.sum}
	default:
		return pos, fmt.Errorf("WAL salt %08x after %08x: not its continuation", wh.salt[0], pos.hdr.salt[0])
	}
	if h.First != from.frames+1 || h.Start != from.sum || h.Frames == 0 {
		return pos, fmt.Errorf("frames from %d, checksum %v; want %d, %v", h.First, h.Start, from.frames+1, from.sum)
	}
	rec := 4 + wh.pageSize
	if len(body) != int(h.Pages)*rec || h.DBSize == 0 {
		return pos, fmt.Errorf("%w: %d bytes for %d pages", errDamaged, len(body), h.Pages)
	}
	if err := checkPageSize(f, wh.pageSize); err != nil {
		return pos, err
	}
	for off := 0; off < len(body); off += rec {
		if pgno := binary.BigEndian.Uint32(body[off:]); pgno == 0 || pgno > h.DBSize {
			return pos, fmt.Errorf("%w: page %d of a %d-page database", errDamaged, pgno, h.DBSize)
		}
	}
	for off := 0; off < len(body); off += rec {
		pgno := binary.BigEndian.Uint32(body[off:])
		if _, err := f.WriteAt(body[off+4:off+rec], int64(pgno-1)*int64(wh.pageSize)); err != nil {
			return pos, err
		}
	}
	if err := f.Truncate(int64(h.DBSize) * int64(wh.pageSize)); err != nil {
		return pos, err
	}
	return walPos{hdr: wh, frames: from.frames + h.Frames, sum: h.End}, nil
}

// checkPageSize makes sure frames of pageSize fit the database file (an empty file takes
// any).
func checkPageSize(f *os.File, pageSize int) error {
	var b [2]byte
	if _, err := f.ReadAt(b[:], 16); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	ps := int(binary.BigEndian.Uint16(b[:]))
	if ps == 1 {
		ps = 65536
	}
	if ps != pageSize {
		return fmt.Errorf("database page size %d, WAL's %d", ps, pageSize)
	}
	return nil
}

func integrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=rw")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}
