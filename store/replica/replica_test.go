package replica

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
)

// The suite runs against a real MinIO (through store/s3's Reserved folder, as pacsd does)
// and against a folder, which is quick to read when a test fails.
func TestReplica(t *testing.T) {
	t.Run("Folder", func(t *testing.T) {
		runSuite(t, func(t *testing.T) Bucket { return &dirBucket{dir: t.TempDir()} })
	})
	t.Run("MinIO", func(t *testing.T) {
		srv := miniotest.Start(t)
		n := 0
		runSuite(t, func(t *testing.T) Bucket {
			n++
			b, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Bucket: "replica",
				Prefix: fmt.Sprintf("node%d", n), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
			if err != nil {
				t.Fatal(err)
			}
			r, err := b.Reserved("replica")
			if err != nil {
				t.Fatal(err)
			}
			return r
		})
	})
}

func runSuite(t *testing.T, newBucket func(t *testing.T) Bucket) {
	t.Run("WritesAfterSnapshot", func(t *testing.T) { testWritesAfterSnapshot(t, newBucket(t)) })
	t.Run("TornSegment", func(t *testing.T) { testTornSegment(t, newBucket(t)) })
	t.Run("Checkpoints", func(t *testing.T) { testCheckpoints(t, newBucket(t)) })
	t.Run("LiveWriter", func(t *testing.T) { testLiveWriter(t, newBucket(t)) })
	t.Run("Generations", func(t *testing.T) { testGenerations(t, newBucket(t)) })
	t.Run("ResetOutOfSight", func(t *testing.T) { testResetOutOfSight(t, newBucket(t)) })
}

// owner opens a database the way store/sqlite does (WAL, synchronous FULL, one writer).
func owner(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, pad BLOB)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// insert adds n rows (of a few hundred bytes, some of several pages) in one transaction.
func insert(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		pad := make([]byte, 100+rand.IntN(3)*5000)
		for i := range pad {
			pad[i] = byte(rand.IntN(256))
		}
		if _, err := tx.Exec(`INSERT INTO t (v, pad) VALUES (?, ?)`, fmt.Sprint("row ", rand.Int64()), pad); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// dump is the table's content, to compare an original with its restored copy.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var n int
	var s sql.NullString
	if err := db.QueryRow(`SELECT count(*), group_concat(id || ':' || v || ':' || hex(sha3(pad)), ',') FROM (SELECT * FROM t ORDER BY id)`).Scan(&n, &s); err != nil {
		// sha3 is not in every build: length and a prefix are enough to tell rows apart.
		if err := db.QueryRow(`SELECT count(*), group_concat(id || ':' || v || ':' || length(pad) || hex(substr(pad, 1, 16)) || hex(substr(pad, -16)), ',') FROM (SELECT * FROM t ORDER BY id)`).Scan(&n, &s); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("%d rows %s", n, s.String)
}

func restoreDump(t *testing.T, b Bucket, name string) (string, Restored) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), name)
	res, err := Restore(context.Background(), b, name, dest, nil)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	db, err := sql.Open("sqlite3", dest)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return dump(t, db), res
}

func start(t *testing.T, b Bucket, cfg Config) *Replicator {
	t.Helper()
	cfg.Bucket = b
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour // the tests call Sync
	}
	r, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	syncNow(t, r) // the first snapshot, which Start does not wait for
	return r
}

func syncNow(t *testing.T, r *Replicator) {
	t.Helper()
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func testWritesAfterSnapshot(t *testing.T, b Bucket) {
	path := filepath.Join(t.TempDir(), "index.db")
	db := owner(t, path)
	insert(t, db, 50)
	missing := filepath.Join(filepath.Dir(path), "audit.db") // not there yet: picked up later
	r := start(t, b, Config{Paths: []string{path, missing}})
	defer r.Close(context.Background())
	if got := r.Stats().Snapshots.Load(); got != 1 {
		t.Fatalf("%d snapshots at start, want 1", got)
	}
	insert(t, db, 10)
	insert(t, db, 1)
	syncNow(t, r)
	want := dump(t, db)
	insert(t, db, 5) // committed after the last sync: not in the replica
	got, res := restoreDump(t, b, "index.db")
	if got != want {
		t.Fatalf("restored %.200s\nwant %.200s", got, want)
	}
	if res.Segments < 1 || res.Stopped != "" {
		t.Fatalf("restore %+v, want the segments applied", res)
	}

	// The second database appears and is replicated from then on.
	audit := owner(t, missing)
	insert(t, audit, 3)
	syncNow(t, r)
	insert(t, audit, 2)
	syncNow(t, r)
	want = dump(t, audit)
	if got, _ := restoreDump(t, b, "audit.db"); got != want {
		t.Fatalf("audit.db restored %.200s\nwant %.200s", got, want)
	}
	names, err := Databases(context.Background(), b)
	if err != nil || strings.Join(names, ",") != "audit.db,index.db" {
		t.Fatalf("Databases = %v, %v", names, err)
	}
}

func testTornSegment(t *testing.T, b Bucket) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	db := owner(t, path)
	insert(t, db, 5)
	r := start(t, b, Config{Paths: []string{path}})
	defer r.Close(ctx)
	var states []string
	for range 4 {
		insert(t, db, 7)
		syncNow(t, r)
		states = append(states, dump(t, db))
	}
	// Segment 3 as an upload cut short would have left it, had the store allowed it: its
	// first half. And then 4 flipped in one byte, in a copy kept for the second check.
	gen := onlyGeneration(t, b, "index.db")
	seg3 := read(t, b, segmentName("index.db", gen, 3))
	put(t, b, segmentName("index.db", gen, 3), seg3[:len(seg3)/2])
	got, res := restoreDump(t, b, "index.db")
	if got != states[1] || res.Segments != 2 || !strings.Contains(res.Stopped, "segment 3") {
		t.Fatalf("with segment 3 torn: restore %+v, rows %.100s; want the state after segment 2 %.100s", res, got, states[1])
	}
	put(t, b, segmentName("index.db", gen, 3), seg3)
	seg4 := read(t, b, segmentName("index.db", gen, 4))
	bad := bytes.Clone(seg4)
	bad[len(bad)/2] ^= 0x40
	put(t, b, segmentName("index.db", gen, 4), bad)
	got, res = restoreDump(t, b, "index.db")
	if got != states[2] || res.Segments != 3 || res.Stopped == "" {
		t.Fatalf("with segment 4 damaged: restore %+v; want the state after segment 3", res)
	}
	// A missing segment: what follows it is not applied either.
	put(t, b, segmentName("index.db", gen, 4), seg4)
	if err := b.Delete(ctx, segmentName("index.db", gen, 2)); err != nil {
		t.Fatal(err)
	}
	got, res = restoreDump(t, b, "index.db")
	if got == states[3] || res.Segments != 1 || !strings.Contains(res.Stopped, "missing") {
		t.Fatalf("with segment 2 gone: restore %+v", res)
	}
}

func testCheckpoints(t *testing.T, b Bucket) {
	path := filepath.Join(t.TempDir(), "index.db")
	db := owner(t, path)
	// The owner checkpoints too, as often as it can: it must not get in the way.
	if _, err := db.Exec("PRAGMA wal_autocheckpoint=16"); err != nil {
		t.Fatal(err)
	}
	insert(t, db, 20)
	r := start(t, b, Config{Paths: []string{path}, CheckpointFrames: 40})
	defer r.Close(context.Background())
	salts := map[[2]uint32]bool{}
	for i := range 60 {
		insert(t, db, 1+i%4)
		// A restart by the owner's own checkpoint right after ours, tried too.
		if i%10 == 5 {
			var busy, logf, done int
			if err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logf, &done); err != nil {
				t.Fatal(err)
			}
		}
		if i%3 == 0 {
			// The checkpoint waits for 5 intervals between attempts.
			r.dbs[0].lastCkpt = time.Time{}
			syncNow(t, r)
			salts[r.dbs[0].pos.hdr.salt] = true
		}
	}
	syncNow(t, r)
	want := dump(t, db)
	if r.Stats().Checkpoints.Load() < 3 || len(salts) < 3 {
		t.Fatalf("%d checkpoints, %d WALs seen: the test did not make the WAL restart", r.Stats().Checkpoints.Load(), len(salts))
	}
	if r.Stats().Snapshots.Load() != 1 {
		t.Fatalf("%d snapshots: a restart was taken for a reset", r.Stats().Snapshots.Load())
	}
	got, res := restoreDump(t, b, "index.db")
	if got != want || res.Stopped != "" {
		t.Fatalf("restore %+v: %.200s\nwant %.200s", res, got, want)
	}
}

// testLiveWriter writes from several goroutines while the replicator ticks every 10 ms;
// Close ships the rest, and the copy is the database.
func testLiveWriter(t *testing.T, b Bucket) {
	path := filepath.Join(t.TempDir(), "index.db")
	db := owner(t, path)
	insert(t, db, 3)
	r := start(t, b, Config{Paths: []string{path}, Interval: 10 * time.Millisecond, CheckpointFrames: 64})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 40 {
				insert(t, db, 2)
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := dump(t, db)
	got, res := restoreDump(t, b, "index.db")
	if got != want || res.Stopped != "" {
		t.Fatalf("restore %+v: %.200s\nwant %.200s", res, got, want)
	}
	t.Logf("stats: %d segments (%d bytes), %d checkpoints", r.Stats().Segments.Load(), r.Stats().SegmentBytes.Load(), r.Stats().Checkpoints.Load())
}

// testGenerations: a new snapshot starts a generation, only two are kept, and a restore
// falls back to the older one when the newest snapshot is damaged.
func testGenerations(t *testing.T, b Bucket) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	db := owner(t, path)
	insert(t, db, 3)
	r := start(t, b, Config{Paths: []string{path}, SnapshotInterval: time.Nanosecond})
	defer r.Close(ctx)
	var before string
	for range 3 {
		before = dump(t, db)
		insert(t, db, 2)
		time.Sleep(time.Millisecond)
		syncNow(t, r) // a new generation each time
	}
	l, err := list(ctx, b, "index.db")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.gens) != 2 {
		t.Fatalf("%d generations kept, want 2", len(l.gens))
	}
	var gens []string
	for g := range l.gens {
		gens = append(gens, g)
	}
	newest := max(gens[0], gens[1])
	snap := read(t, b, snapshotName("index.db", newest))
	put(t, b, snapshotName("index.db", newest), snap[:len(snap)-10])
	got, res := restoreDump(t, b, "index.db")
	if res.Generation == newest || got != before {
		t.Fatalf("restore %+v from a damaged newest snapshot: %.100s, want the older generation's %.100s", res, got, before)
	}
}

// testResetOutOfSight: a WAL that does not continue the one the replicator was reading
// (here: its position made to point into another WAL, as a WAL deleted and made anew would
// look) starts a new generation, and the restore is the database.
func testResetOutOfSight(t *testing.T, b Bucket) {
	path := filepath.Join(t.TempDir(), "index.db")
	db := owner(t, path)
	insert(t, db, 4)
	r := start(t, b, Config{Paths: []string{path}})
	defer r.Close(context.Background())
	insert(t, db, 3)
	syncNow(t, r)
	d := r.dbs[0]
	d.mu.Lock()
	d.pos.hdr.salt[0] += 7
	d.mu.Unlock()
	insert(t, db, 5)
	syncNow(t, r)
	if got := r.Stats().Snapshots.Load(); got != 2 {
		t.Fatalf("%d snapshots, want a second one after the reset", got)
	}
	insert(t, db, 2)
	syncNow(t, r)
	want := dump(t, db)
	got, res := restoreDump(t, b, "index.db")
	if got != want || res.Stopped != "" || res.Generation != d.gen {
		t.Fatalf("restore %+v: %.200s\nwant %.200s", res, got, want)
	}
}

func onlyGeneration(t *testing.T, b Bucket, db string) string {
	t.Helper()
	l, err := list(context.Background(), b, db)
	if err != nil || len(l.gens) != 1 {
		t.Fatalf("list: %v, %d generations", err, len(l.gens))
	}
	for g := range l.gens {
		return g
	}
	return ""
}

func read(t *testing.T, b Bucket, name string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func put(t *testing.T, b Bucket, name string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// dirBucket is a Bucket on a folder.
type dirBucket struct{ dir string }

func (d *dirBucket) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	p := filepath.Join(d.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(data)) != size {
		return fmt.Errorf("%d bytes, want %d", len(data), size)
	}
	if err := os.WriteFile(p+".tmp", data, 0o644); err != nil {
		return err
	}
	return os.Rename(p+".tmp", p)
}

func (d *dirBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.dir, name))
}

func (d *dirBucket) List(ctx context.Context, prefix string, fn func(string, int64) error) error {
	return filepath.Walk(d.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		name, _ := filepath.Rel(d.dir, p)
		name = filepath.ToSlash(name)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		return fn(name, fi.Size())
	})
}

func (d *dirBucket) Delete(ctx context.Context, name string) error {
	err := os.Remove(filepath.Join(d.dir, name))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
