package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Config says what to replicate where.
type Config struct {
	Bucket Bucket
	// Paths are the database files (WAL mode) replicated, each under its file name; one
	// that does not exist yet is picked up when it appears.
	Paths []string
	// Interval is how often committed WAL frames are shipped: about the most acknowledged
	// writes a lost server can take with it. Default 1 s.
	Interval time.Duration
	// SnapshotInterval starts a new generation (a full snapshot) this often, so a restore
	// replays at most this much WAL. Default 24 h.
	SnapshotInterval time.Duration
	// CheckpointFrames: once the WAL holds this many frames the replicator checkpoints it
	// itself (SQLite's own automatic checkpoint cannot restart a WAL it holds open).
	// Default 1000, SQLite's own threshold.
	CheckpointFrames uint32
	Logger           *slog.Logger
}

// maxSegment bounds one WAL segment's frames in memory; a longer backlog goes as several.
const maxSegment = 8 << 20

// Replicator ships its databases' WAL to the bucket until Close.
type Replicator struct {
	cfg    Config
	log    *slog.Logger
	dbs    []*dbReplica
	cancel context.CancelFunc
	done   chan struct{}
	stats  Stats
}

// Stats counts what has been shipped, for logs and the cost measurement.
type Stats struct {
	Snapshots     atomic.Int64
	SnapshotBytes atomic.Int64 // compressed
	Segments      atomic.Int64
	SegmentBytes  atomic.Int64 // compressed
	Frames        atomic.Int64
	Checkpoints   atomic.Int64
	Errors        atomic.Int64
	Busy          atomic.Int64 // nanoseconds spent syncing (reading, compressing, uploading)
	MaxLockHold   atomic.Int64 // nanoseconds: the longest the owner's writer was held off
}

// Start replicates until Close, in the background: first a snapshot of every existing
// database (a new generation each: nothing is known about what the bucket holds from before
// this process), then new WAL frames every Interval. Start does not wait for the snapshots,
// which may take a while for a large index; a bucket that is down delays them, and the WAL
// is kept until it has been shipped.
func Start(ctx context.Context, cfg Config) (*Replicator, error) {
	if cfg.Bucket == nil || len(cfg.Paths) == 0 {
		return nil, errors.New("replica: a bucket and database paths are required")
	}
	cfg.Interval = cmpOr(cfg.Interval, time.Second)
	cfg.SnapshotInterval = cmpOr(cfg.SnapshotInterval, 24*time.Hour)
	if cfg.CheckpointFrames == 0 {
		cfg.CheckpointFrames = 1000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Replicator{cfg: cfg, log: log.With("component", "replica"), done: make(chan struct{})}
	seen := map[string]bool{}
	for _, p := range cfg.Paths {
		name := filepath.Base(p)
		if seen[name] {
			return nil, fmt.Errorf("replica: two databases named %s", name)
		}
		seen[name] = true
		r.dbs = append(r.dbs, &dbReplica{r: r, path: p, name: name, log: r.log.With("db", name)})
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go r.loop(lctx)
	return r, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Stats returns the running counters.
func (r *Replicator) Stats() *Stats { return &r.stats }

func (r *Replicator) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	now := time.Now()
	for {
		for _, d := range r.dbs {
			if err := d.sync(ctx, now, false); err != nil && ctx.Err() == nil {
				r.stats.Errors.Add(1)
				d.logFailure(err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
	}
}

// Sync ships what every database has committed now (tests; Close does it last).
func (r *Replicator) Sync(ctx context.Context) error {
	var errs []error
	for _, d := range r.dbs {
		errs = append(errs, d.sync(ctx, time.Now(), true))
	}
	return errors.Join(errs...)
}

// Close stops the loop, ships what was committed since the last tick (waiting at most
// until ctx ends) and releases the databases. Call it before the databases are closed:
// its read transaction would keep their last connection from checkpointing.
func (r *Replicator) Close(ctx context.Context) error {
	r.cancel()
	<-r.done
	var errs []error
	for _, d := range r.dbs {
		d.mu.Lock()
		d.final = true // no new generation now: it would only delay the shutdown
		d.mu.Unlock()
		errs = append(errs, d.sync(ctx, time.Now(), true))
	}
	err := errors.Join(errs...)
	for _, d := range r.dbs {
		d.close()
	}
	if err != nil {
		return fmt.Errorf("replica: last sync: %w", err)
	}
	st := &r.stats
	r.log.Info("replica: stopped after a last sync", "snapshots", st.Snapshots.Load(), "snapshot_bytes", st.SnapshotBytes.Load(),
		"segments", st.Segments.Load(), "segment_bytes", st.SegmentBytes.Load(), "frames", st.Frames.Load(),
		"checkpoints", st.Checkpoints.Load(), "busy", time.Duration(st.Busy.Load()), "max_lock_hold", time.Duration(st.MaxLockHold.Load()))
	return nil
}

// dbReplica replicates one database. Its invariant: while it runs, one of its two pin
// connections holds a read transaction (the pin), begun when every frame then in the WAL
// had been read. SQLite restarts a WAL only when no reader uses one of the WAL's read marks,
// which a pin does unless the WAL was fully checkpointed when it began; and such a pin
// (read mark 0) keeps every checkpoint from copying frames into the database, so no second
// restart can come before the next pin. So the only restart possible is at the first write
// after a pin on a fully checkpointed WAL, and it drops only frames already read: the new
// WAL continues the old one (salt-1 one more). The pin moves forward after each shipped
// segment, the new one begun before the old one ends, so that the owner's own checkpoints
// keep copying frames into the database; the restart itself is the replicator's
// checkpoint's, under the write lock.
type dbReplica struct {
	r    *Replicator
	path string
	name string
	log  *slog.Logger

	mu   sync.Mutex
	db   *sql.DB
	pins [2]*sql.Conn // pins[cur] holds the read transaction
	cur  int
	lock *sql.Conn // BEGIN IMMEDIATE for a snapshot's start and a checkpoint

	gen      string // "" until a snapshot has been uploaded
	genStart time.Time
	seq      uint64
	pos      walPos
	pending  []*segment // read and encoded, not yet uploaded, in order
	retryAt  time.Time
	backoff  time.Duration
	failures int
	lastCkpt time.Time
	final    bool // Close's last sync
}

// segment is a WAL segment: the frames read, encoded when it is first uploaded (so that
// reading, which a checkpoint does a few times in a row, stays quick).
type segment struct {
	h    header
	raw  committed
	data []byte // encoded; then raw is dropped
}

func (sg *segment) encode() error {
	if sg.data != nil {
		return nil
	}
	pages, dbSize, n := lastPages(sg.raw.data, sg.raw.hdr.pageSize)
	sg.h.DBSize, sg.h.Pages = dbSize, n
	enc, err := encodeSegment(sg.h, pages)
	if err != nil {
		return fmt.Errorf("encode segment: %w", err)
	}
	sg.data, sg.raw = enc, committed{}
	return nil
}

func (d *dbReplica) walPath() string { return d.path + "-wal" }

func (d *dbReplica) logFailure(err error) {
	d.failures++
	// Every failure while the bucket is away would be a line a second: the first few
	// and then one a minute.
	if d.failures <= 3 || d.failures%60 == 0 {
		d.log.Warn("replica: shipping failed; the WAL is kept until it succeeds", "err", err, "failures", d.failures)
	}
}

// open opens the two connections, if the database exists.
func (d *dbReplica) open(ctx context.Context) (bool, error) {
	if d.db != nil {
		return true, nil
	}
	if _, err := os.Stat(d.path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	// mode=rw: never create the database; WAL is the owner's setting, checked below.
	db, err := sql.Open("sqlite3", "file:"+d.path+"?mode=rw&_busy_timeout=5000")
	if err != nil {
		return false, fmt.Errorf("open %s: %w", d.path, err)
	}
	db.SetMaxOpenConns(3)
	db.SetMaxIdleConns(3)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return false, fmt.Errorf("open %s: %w", d.path, err)
	}
	if mode != "wal" {
		db.Close()
		return false, fmt.Errorf("open %s: journal_mode %s, want wal", d.path, mode)
	}
	var conns []*sql.Conn
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			db.Close()
			return false, fmt.Errorf("open %s: %w", d.path, err)
		}
		conns = append(conns, c)
	}
	d.db, d.pins, d.lock, d.cur = db, [2]*sql.Conn{conns[0], conns[1]}, conns[2], 0
	return true, nil
}

func (d *dbReplica) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return
	}
	ctx := context.Background()
	for _, p := range d.pins {
		_, _ = p.ExecContext(ctx, "ROLLBACK")
		p.Close()
	}
	d.lock.Close()
	d.db.Close()
	d.db = nil
}

func (d *dbReplica) pin() *sql.Conn { return d.pins[d.cur] }

// beginRead begins a read transaction on c.
func beginRead(ctx context.Context, c *sql.Conn) error {
	if _, err := c.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	// A deferred transaction reads nothing until its first statement.
	var n int
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		_, _ = c.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("pin: %w", err)
	}
	return nil
}

// repin moves the pin to now. Callers hold the write lock, so nothing is written
// between the old pin's end and the new one's start.
func (d *dbReplica) repin(ctx context.Context) error {
	_, _ = d.pin().ExecContext(ctx, "ROLLBACK") // none open the first time
	return beginRead(ctx, d.pin())
}

// movePin moves the pin to now without the write lock: the new read transaction begins
// before the old one ends. Callers have just read the WAL to its end (see dbReplica).
func (d *dbReplica) movePin(ctx context.Context) error {
	next := 1 - d.cur
	if err := beginRead(ctx, d.pins[next]); err != nil {
		return err
	}
	_, _ = d.pin().ExecContext(ctx, "ROLLBACK")
	d.cur = next
	return nil
}

// writeLocked runs fn holding SQLite's write lock (the owner's writer waits, up to its
// busy timeout).
func (d *dbReplica) writeLocked(ctx context.Context, fn func() error) error {
	if _, err := d.lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	start := time.Now()
	err := fn()
	if _, rerr := d.lock.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
		err = errors.Join(err, fmt.Errorf("release write lock: %w", rerr))
	}
	held := int64(time.Since(start))
	for {
		if old := d.r.stats.MaxLockHold.Load(); held <= old || d.r.stats.MaxLockHold.CompareAndSwap(old, held) {
			break
		}
	}
	return err
}

// sync does what is due: a snapshot, the pending segments, new frames, a checkpoint. After
// a failure it waits (up to a minute, doubling) unless forced.
func (d *dbReplica) sync(ctx context.Context, now time.Time, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok, err := d.open(ctx); !ok || err != nil {
		return err
	}
	if !force && now.Before(d.retryAt) {
		return nil
	}
	start := time.Now()
	err := d.syncLocked(ctx, now)
	d.r.stats.Busy.Add(int64(time.Since(start)))
	if err != nil {
		d.backoff = min(max(2*d.backoff, d.r.cfg.Interval), time.Minute)
		d.retryAt = now.Add(d.backoff)
		return err
	}
	d.backoff, d.retryAt = 0, time.Time{}
	if d.failures > 0 {
		d.log.Info("replica: shipping again", "after_failures", d.failures)
		d.failures = 0
	}
	return nil
}

func (d *dbReplica) syncLocked(ctx context.Context, now time.Time) error {
	if d.gen == "" || (now.Sub(d.genStart) >= d.r.cfg.SnapshotInterval && !d.final) {
		return d.snapshot(ctx, now)
	}
	if err := d.uploadPending(ctx); err != nil {
		return err
	}
	shipped, err := d.shipAll(ctx, now)
	if err != nil || !shipped {
		return err
	}
	if d.pos.frames >= d.r.cfg.CheckpointFrames && now.Sub(d.lastCkpt) >= d.r.cfg.Interval {
		d.lastCkpt = now
		return d.checkpoint(ctx, now)
	}
	return nil
}

var errReset = errors.New("the WAL was reset out of the replicator's sight")

// shipAll uploads the transactions committed since the last segment (take).
func (d *dbReplica) shipAll(ctx context.Context, now time.Time) (bool, error) {
	took, err := d.take(ctx, now)
	if err != nil || !took {
		return false, err
	}
	return true, d.uploadPending(ctx)
}

// take reads the transactions committed since the last segment into pending segments and
// then moves the pin past them. A WAL reset that does not continue the stream starts a new
// generation instead.
func (d *dbReplica) take(ctx context.Context, now time.Time) (bool, error) {
	took := false
	for {
		c, restarted, err := readCommitted(d.walPath(), d.pos, maxSegment, true, 0)
		if err != nil {
			return took, err
		}
		if restarted && !continues(d.pos.hdr, c.hdr) {
			d.log.Warn("replica: " + errReset.Error() + "; new snapshot")
			return false, d.snapshot(ctx, now)
		}
		if c.frames == 0 {
			break
		}
		d.pending = append(d.pending, d.newSegment(c, now))
		took = true
		if len(c.data) < maxSegment {
			break
		}
	}
	if !took {
		return false, nil
	}
	return true, d.movePin(ctx)
}

// lastPages is what a checkpoint of frames (whole transactions) writes to the database:
// the last version of each page within the database's size after the last commit, in page
// order, each after its 4-byte page number. A restore applies a segment whole, so the
// versions between are of no use to it.
func lastPages(frames []byte, pageSize int) (body []byte, dbSize, n uint32) {
	size := frameHeaderLen + pageSize
	last := map[uint32]int{}
	for off := 0; off+size <= len(frames); off += size {
		pgno := binary.BigEndian.Uint32(frames[off:])
		last[pgno] = off
		if c := binary.BigEndian.Uint32(frames[off+4:]); c != 0 {
			dbSize = c
		}
	}
	pgnos := make([]uint32, 0, len(last))
	for p := range last {
		if p <= dbSize {
			pgnos = append(pgnos, p)
		}
	}
	slices.Sort(pgnos)
	body = make([]byte, 0, len(pgnos)*(4+pageSize))
	for _, p := range pgnos {
		body = binary.BigEndian.AppendUint32(body, p)
		body = append(body, frames[last[p]+frameHeaderLen:last[p]+size]...)
	}
	return body, dbSize, uint32(len(pgnos))
}

// newSegment takes c as the next segment and moves the position past it.
func (d *dbReplica) newSegment(c committed, now time.Time) *segment {
	d.seq++
	d.pos = c.end
	return &segment{raw: c, h: header{Kind: "wal", DB: d.name, Gen: d.gen, Seq: d.seq, Time: now.UTC(),
		WALHeader: c.hdr.raw, First: c.first, Frames: c.frames, Start: c.start, End: c.end.sum}}
}

func (d *dbReplica) uploadPending(ctx context.Context) error {
	for len(d.pending) > 0 {
		sg := d.pending[0]
		if err := sg.encode(); err != nil {
			return err
		}
		name := segmentName(d.name, d.gen, sg.h.Seq)
		if err := d.r.cfg.Bucket.Put(ctx, name, bytes.NewReader(sg.data), int64(len(sg.data))); err != nil {
			return fmt.Errorf("upload %s: %w", name, err)
		}
		d.r.stats.Segments.Add(1)
		d.r.stats.SegmentBytes.Add(int64(len(sg.data)))
		d.r.stats.Frames.Add(int64(sg.h.Frames))
		d.pending = d.pending[1:]
	}
	return nil
}

// checkpoint lets SQLite restart the WAL: the frames up to the pin are copied into the
// database first, without the lock (the owner's writes go on); then, holding the write lock
// for a moment, the last frames are read, the rest is copied and the pin begun again, so
// that the restart SQLite does at the next write loses no frame that has not been read.
func (d *dbReplica) checkpoint(ctx context.Context, now time.Time) error {
	// Without the lock, a few times: copy frames up to the pin, then read what was written
	// meanwhile (into memory: uploads are slow) and move the pin past it; what is left for
	// the lock is what the last few milliseconds wrote.
	for round := 0; ; round++ {
		done, err := d.passive(ctx, d.lock)
		if err != nil {
			return err
		}
		// A commit frame is in the file a moment before SQLite's index of the WAL says
		// so, and so before a pin sees it: the copy may end a few frames short of what
		// was read. Far short, the owner's readers are in the way, and the lock would
		// wait for all of it: next time.
		if done < 0 || uint32(done)+d.r.cfg.CheckpointFrames/4 < d.pos.frames {
			return d.uploadPending(ctx)
		}
		before := d.pos.frames
		if _, err := d.take(ctx, now); err != nil || d.gen == "" {
			return err // d.gen "": a reset began a new generation
		}
		if d.pos.frames-before < 64 {
			break
		}
		if round == 4 {
			// The owner writes faster than a round goes: the lock would hold it off
			// for the copy of all that. Next time, unless the WAL has grown long.
			if d.pos.frames < 16*d.r.cfg.CheckpointFrames {
				return d.uploadPending(ctx)
			}
			break
		}
	}
	var (
		last     committed
		reset    bool
		unpinned bool
		busy     bool // too much written while the lock was awaited
	)
	err := d.writeLocked(ctx, func() error {
		var restarted bool
		var err error
		// The owner's last transaction (up to 128 writes) may have committed while we
		// waited for the lock: reading thousands of frames now would hold it off for all
		// that time. Then this is left for next time.
		var limit uint32 = 256
		if d.pos.frames >= 16*d.r.cfg.CheckpointFrames {
			limit = 0
		}
		last, restarted, err = readCommitted(d.walPath(), d.pos, 1<<62, true, limit)
		if errors.Is(err, errTooMany) {
			busy = true
			return nil
		}
		if err != nil {
			return err
		}
		if restarted && !continues(d.pos.hdr, last.hdr) {
			reset = true
			return nil
		}
		unpinned = true
		if _, err := d.pin().ExecContext(ctx, "ROLLBACK"); err != nil {
			return fmt.Errorf("unpin: %w", err)
		}
		if _, err := d.passive(ctx, d.pin()); err != nil {
			return errors.Join(err, d.repin(ctx))
		}
		d.r.stats.Checkpoints.Add(1)
		if err := d.repin(ctx); err != nil {
			return err
		}
		unpinned = false
		return nil
	})
	if err != nil {
		if unpinned {
			// Without a pin SQLite may restart the WAL over frames not read: this
			// generation cannot go on.
			d.gen, d.pending = "", nil
		}
		return err
	}
	if reset {
		d.log.Warn("replica: " + errReset.Error() + "; new snapshot")
		return d.snapshot(ctx, now)
	}
	if busy {
		return d.uploadPending(ctx)
	}
	if last.frames > 0 {
		d.pending = append(d.pending, d.newSegment(last, now))
	}
	return d.uploadPending(ctx)
}

// passive runs a PASSIVE checkpoint on c, a connection that holds no transaction, and
// returns how many frames of the WAL are now in the database (-1: none could be). The owner checkpoints after each commit once
// its WAL is long, and then copies the same frames: a busy answer is tried again a little.
func (d *dbReplica) passive(ctx context.Context, c *sql.Conn) (int, error) {
	var busy, logFrames, done int
	for try := 0; ; try++ {
		if err := c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
			return 0, fmt.Errorf("checkpoint: %w", err)
		}
		if busy == 0 || try == 5 {
			return done, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// snapshot starts a new generation: the write lock is taken, the WAL read to its end and
// the pin begun there, so the database the pin sees is exactly that WAL position; it is
// copied with SQLite's online backup (the owner writes on meanwhile), compressed and
// uploaded. Then the generations before the previous one are deleted.
func (d *dbReplica) snapshot(ctx context.Context, now time.Time) error {
	var end walPos
	err := d.writeLocked(ctx, func() error {
		c, _, err := readCommitted(d.walPath(), walPos{}, 0, false, 0)
		if err != nil {
			return err
		}
		end = c.end
		return d.repin(ctx)
	})
	// The pin has moved: the current generation cannot go on (frames before the new pin
	// may be checkpointed away unshipped), whether or not the new one gets uploaded.
	d.gen, d.pending = "", nil
	if err != nil {
		return err
	}
	gen := newGeneration(now)
	tmp, err := os.CreateTemp(filepath.Dir(d.path), "."+d.name+".replica-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath)
	if err := d.backup(ctx, tmpPath); err != nil {
		return err
	}
	h := header{Kind: "snapshot", DB: d.name, Gen: gen, Time: now.UTC(), First: end.frames, Start: end.sum, End: end.sum}
	if end.valid() {
		h.WALHeader = end.hdr.raw
	}
	size, err := d.uploadSnapshot(ctx, tmpPath, h)
	if err != nil {
		return err
	}
	d.gen, d.genStart, d.seq, d.pos, d.pending = gen, now, 0, end, nil
	d.r.stats.Snapshots.Add(1)
	d.r.stats.SnapshotBytes.Add(size)
	d.log.Info("replica: snapshot uploaded", "generation", gen, "bytes", size, "wal_frames", end.frames)
	if err := d.prune(ctx); err != nil {
		d.log.Warn("replica: deleting old generations", "err", err)
	}
	return nil
}

// backup copies the database as the pin's read transaction sees it into path.
func (d *dbReplica) backup(ctx context.Context, path string) error {
	dst, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer dst.Close()
	dc, err := dst.Conn(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer dc.Close()
	err = dc.Raw(func(dr any) error {
		return d.pin().Raw(func(sr any) error {
			// The source is in a read transaction already, so the backup reads that
			// snapshot, in one step, while the owner writes on.
			b, err := dr.(*sqlite3.SQLiteConn).Backup("main", sr.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			if _, err := b.Step(-1); err != nil {
				b.Finish()
				return err
			}
			return b.Finish()
		})
	})
	if err != nil {
		return fmt.Errorf("snapshot: backup: %w", err)
	}
	return nil
}

// uploadSnapshot compresses the copy at path beside it and uploads it; it returns the
// compressed size.
func (d *dbReplica) uploadSnapshot(ctx context.Context, path string, h header) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	sum := sha256.New()
	size, err := io.Copy(sum, f)
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	gz, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".gz-*")
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(gz.Name())
	defer gz.Close()
	if err := encodeObject(gz, h, f, size, sum.Sum(nil)); err != nil {
		return 0, fmt.Errorf("snapshot: compress: %w", err)
	}
	zsize, err := gz.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	if _, err := gz.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	name := snapshotName(d.name, h.Gen)
	if err := d.r.cfg.Bucket.Put(ctx, name, gz, zsize); err != nil {
		return 0, fmt.Errorf("upload %s: %w", name, err)
	}
	return zsize, nil
}

// prune deletes every generation but the newest two: the previous one stays as a fallback
// should the newest snapshot be unreadable.
func (d *dbReplica) prune(ctx context.Context) error {
	l, err := list(ctx, d.r.cfg.Bucket, d.name)
	if err != nil {
		return err
	}
	gens := make([]string, 0, len(l.gens))
	for g := range l.gens {
		gens = append(gens, g)
	}
	slices.Sort(gens)
	if len(gens) <= 2 {
		return nil
	}
	var errs []error
	for _, g := range gens[:len(gens)-2] {
		gl := l.gens[g]
		for seq := range gl.segments {
			errs = append(errs, d.r.cfg.Bucket.Delete(ctx, segmentName(d.name, g, seq)))
		}
		// The snapshot last: a half-deleted generation is still recognised as one.
		errs = append(errs, d.r.cfg.Bucket.Delete(ctx, snapshotName(d.name, g)))
	}
	return errors.Join(errs...)
}
