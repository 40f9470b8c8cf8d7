package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pacsd/internal/pgtest"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/postgres"
	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Cluster mode: several nodes (Archives with their own disks) over one PostgreSQL index
// and one bucket, writing through to the bucket before they acknowledge.

// node is one pacsd node's archive: its own spool and local blobs, its own connection
// pool to the shared database, the shared bucket.
type node struct {
	a      *store.Archive
	idx    *postgres.Index
	blobs  *file.Blobs
	dir    string
	remote *s3.Blobs
}

func newNode(t testing.TB, url string, srv *miniotest.Server, bucket string, up store.UploadConfig) *node {
	t.Helper()
	return newNodeIn(t, t.TempDir(), url, srv, bucket, up)
}

// newNodeIn is newNode on the disk at dir (a node restarting).
func newNodeIn(t testing.TB, dir, url string, srv *miniotest.Server, bucket string, up store.UploadConfig) *node {
	t.Helper()
	ctx := context.Background()
	n := &node{dir: dir}
	var err error
	if n.idx, err = postgres.Open(ctx, url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.idx.Close() })
	if n.blobs, err = file.New(filepath.Join(n.dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	cfg := s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	if n.remote, err = s3.New(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if up.RetryMin == 0 {
		up.RetryMin, up.RetryMax = 50*time.Millisecond, 500*time.Millisecond
	}
	n.a, err = store.NewArchive(n.idx, n.blobs, store.Config{
		SpoolDir:     filepath.Join(n.dir, "spool"),
		MinFreeBytes: -1,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Remote:       n.remote,
		Upload:       up,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.a.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.a.Start(ctx, cfg.Name()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.a.Close() })
	return n
}

func (n *node) localKeys(t testing.TB) []string {
	t.Helper()
	return (&env{blobs: n.blobs}).blobKeys(t)
}

// TestClusterWriteThrough: an object acknowledged by node A is at once in the bucket and
// readable through node B; A's disk lost, B (and A) still read everything; nothing waits
// for upload; two nodes writing one study at once both land, counted right.
func TestClusterWriteThrough(t *testing.T) {
	srv := miniotest.Start(t)
	url := pgtest.DB(t)
	ctx := context.Background()
	up := store.UploadConfig{WriteThrough: true, LocalBudget: -1}
	a := newNode(t, url, srv, "cluster", up)
	b := newNode(t, url, srv, "cluster", up)
	// Node B's live worklists hear of what A stores (postgres.Index.Listen).
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	heard := make(chan string, 100)
	go b.idx.Listen(lctx, func(study string) { heard <- study })
	waitListener(t, url)

	data, sops := studyObjs("1.2.826.0.9.1", 6)
	for i, d := range data {
		inst, err := a.a.Put(ctx, bytes.NewReader(d), store.PutRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !inst.Uploaded || inst.Evicted {
			t.Fatalf("acknowledged %s: uploaded=%v evicted=%v, want uploaded only", sops[i], inst.Uploaded, inst.Evicted)
		}
		// No Drain, no wait: in the bucket and readable through B as soon as A acknowledged.
		if got := remoteBytes(t, a.remote, inst.BlobKey); !bytes.Equal(got, d) {
			t.Fatalf("bucket copy of %s differs", sops[i])
		}
		if got := openBytes(t, b.a, sops[i]); !bytes.Equal(got, d) {
			t.Fatalf("node B reads %s wrong", sops[i])
		}
	}
	select {
	case study := <-heard:
		if study != "1.2.826.0.9.1" {
			t.Fatalf("node B heard of study %q, want 1.2.826.0.9.1", study)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node B heard nothing of what node A stored")
	}
	if st := a.a.SpoolStats(); st.PendingObjects != 0 || st.UploadedObjects != 6 || st.SpoolBytes != 0 {
		t.Fatalf("node A stats: %+v", st)
	}
	if u, err := a.idx.Usage(ctx); err != nil || u.PendingObjects != 0 || u.UploadedObjects != 6 {
		t.Fatalf("usage %+v, %v: want nothing pending", u, err)
	}
	// B read from the bucket and keeps nothing; a re-send through B is a duplicate, written
	// nowhere.
	if k := b.localKeys(t); len(k) != 0 {
		t.Fatalf("node B holds %q", k)
	}
	if _, err := b.a.Put(ctx, bytes.NewReader(data[0]), store.PutRequest{}); err != nil {
		t.Fatal(err)
	}
	if k := b.localKeys(t); len(k) != 0 {
		t.Fatalf("duplicate written on node B: %q", k)
	}

	// Node A's disk is lost (and replaced by an empty one): every node still reads
	// everything, from the bucket.
	if err := os.RemoveAll(filepath.Join(a.dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(a.dir, "blobs"), 0o750); err != nil {
		t.Fatal(err)
	}
	for i, sop := range sops {
		for name, n := range map[string]*node{"A": a, "B": b} {
			if got := openBytes(t, n.a, sop); !bytes.Equal(got, data[i]) {
				t.Fatalf("node %s reads %s wrong after A's disk was lost", name, sop)
			}
		}
	}
	// The bucket and the index agree. Neither node's check takes a copy its cache does not
	// hold for damage (nor would its repair mark it evicted for every node).
	c, err := b.a.Check(ctx, store.CheckOptions{Remote: true, Hash: true, Repair: true})
	if err != nil || c.Problems() || c.Repaired != 0 || c.RemoteStored != 6 || c.Referenced != 6 {
		t.Fatalf("Check on node B = %+v, %v", c, err)
	}

	// Both nodes receive one study at once (two modalities, or one load-balanced sender).
	const each = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	sent := map[string][]byte{}
	for ni, n := range []*node{a, b} {
		var objs [][]byte
		for i := range each {
			o := obj{study: "1.2.826.0.9.2", series: fmt.Sprintf("1.2.826.0.9.2.%d", ni+1),
				sop: fmt.Sprintf("1.2.826.0.9.2.%d.%d", ni+1, i+1), pixels: 3000, fill: byte(i)}
			objs = append(objs, o.bytes())
			sent[o.sop] = objs[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, d := range objs {
				if _, err := n.a.Put(ctx, bytes.NewReader(d), store.PutRequest{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"A": a, "B": b} {
		list, err := n.a.Index().Instances(ctx, "1.2.826.0.9.2", "")
		if err != nil || len(list) != 2*each {
			t.Fatalf("node %s lists %d instances of the shared study (%v), want %d", name, len(list), err, 2*each)
		}
		for _, in := range list {
			if !in.Uploaded {
				t.Fatalf("%s not uploaded", in.SOPInstanceUID)
			}
		}
	}
	for sop, d := range sent {
		if got := openBytes(t, a.a, sop); !bytes.Equal(got, d) {
			t.Fatalf("node A reads %s wrong", sop)
		}
	}
	if u, err := a.idx.Usage(ctx); err != nil || u.Instances != 6+2*each || u.PendingObjects != 0 {
		t.Fatalf("usage %+v, %v", u, err)
	}
}

// TestClusterRemoteDown: with the bucket unreachable a write-through node refuses new
// objects (ErrUnavailable: C-STORE 0xA700, a STOW failure) and leaves nothing behind,
// refuses the next ones at once instead of waiting for the bucket again, and takes
// objects again once the bucket is back.
func TestClusterRemoteDown(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	n := newNode(t, pgtest.DB(t), srv, "down", store.UploadConfig{WriteThrough: true, LocalBudget: -1,
		RetryMin: 2 * time.Second})
	data, sops := studyObjs("1.2.826.0.9.3", 3)
	srv.Stop()
	if _, err := n.a.Put(ctx, bytes.NewReader(data[0]), store.PutRequest{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put with the bucket down: %v, want ErrUnavailable", err)
	}
	start := time.Now()
	if _, err := n.a.Put(ctx, bytes.NewReader(data[1]), store.PutRequest{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("second Put with the bucket down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second refusal took %v: it should not wait for the bucket again", d)
	}
	for _, sop := range sops[:2] {
		if _, err := n.idx.Instance(ctx, sop); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused %s is indexed: %v", sop, err)
		}
	}
	if k := n.localKeys(t); len(k) != 0 {
		t.Fatalf("refused objects left local blobs: %q", k)
	}
	if st := n.a.SpoolStats(); st.RemoteDownSince.IsZero() || st.UploadFailures == 0 {
		t.Fatalf("stats with the bucket down: %+v", st)
	}

	srv.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for {
		inst, err := n.a.Put(ctx, bytes.NewReader(data[2]), store.PutRequest{})
		if err == nil {
			if !inst.Uploaded {
				t.Fatalf("stored after the outage without upload: %+v", inst)
			}
			break
		}
		if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Put after the bucket came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := remoteBytes(t, n.remote, store.BlobKey("1.2.826.0.9.3", "1.2.826.0.9.3.1", sops[2], sum(data[2]))); !bytes.Equal(got, data[2]) {
		t.Fatal("bucket copy differs")
	}
	if st := n.a.SpoolStats(); !st.RemoteDownSince.IsZero() {
		t.Fatalf("still down after a write-through: %+v", st)
	}
}

// TestClusterEvictionNodeLocal: a write-through node keeps its cache under its budget by
// itself, oldest written first, without marking anything evicted in the shared index (the
// other nodes' copies stay theirs to read) and reading what it gave up from the bucket.
func TestClusterEvictionNodeLocal(t *testing.T) {
	srv := miniotest.Start(t)
	url := pgtest.DB(t)
	ctx := context.Background()
	a := newNode(t, url, srv, "evict", store.UploadConfig{WriteThrough: true, LocalBudget: -1})
	data, sops := studyObjs("1.2.826.0.9.4", 5)
	var size int64
	for i, d := range data {
		inst, err := a.a.Put(ctx, bytes.NewReader(d), store.PutRequest{})
		if err != nil {
			t.Fatal(err)
		}
		size = max(size, inst.Size)
		// Written a minute apart, oldest first (eviction goes by the minute written).
		at := time.Now().Add(-time.Duration(len(data)-i) * time.Minute)
		if err := os.Chtimes(filepath.Join(a.dir, "blobs", filepath.FromSlash(inst.BlobKey)), at, at); err != nil {
			t.Fatal(err)
		}
	}
	a.a.Close()
	// The node starts again with room for two and a half objects: the three oldest go
	// (down to nine tenths of the budget), the two newest stay.
	again := newNodeIn(t, a.dir, url, srv, "evict", store.UploadConfig{WriteThrough: true, LocalBudget: 5 * size / 2})
	drain(t, again.a)
	keys := again.localKeys(t)
	if len(keys) != 2 {
		t.Fatalf("local copies after eviction: %q, want the two newest", keys)
	}
	for i, sop := range sops {
		rec, err := again.idx.Instance(ctx, sop)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Evicted {
			t.Fatalf("%s marked evicted in the shared index", sop)
		}
		local := false
		for _, k := range keys {
			local = local || k == rec.BlobKey
		}
		if want := i >= 3; local != want {
			t.Fatalf("%s (written #%d) local = %v, want %v", sop, i, local, want)
		}
		if got := openBytes(t, again.a, sop); !bytes.Equal(got, data[i]) {
			t.Fatalf("%s read wrong after eviction", sop)
		}
	}
	if st := again.a.SpoolStats(); st.EvictedObjects != 3 || st.LocalBytes > 5*size/2 {
		t.Fatalf("stats after eviction: %+v", st)
	}
}

// TestClusterPendingBeforeWriteThrough: objects still waiting for upload when write-through
// was switched on (a single node's spool, before it joined a cluster) are uploaded by the
// node whose disk holds them; another node starting on the same index passes them over
// without counting a failure, and uploads nothing.
func TestClusterPendingBeforeWriteThrough(t *testing.T) {
	srv := miniotest.Start(t)
	url := pgtest.DB(t)
	ctx := context.Background()
	// The old single node, writing back; its uploader stopped before the object arrives.
	old := newNode(t, url, srv, "pending", store.UploadConfig{LocalBudget: -1})
	old.a.Close()
	data, sops := studyObjs("1.2.826.0.9.5", 1)
	inst, err := old.a.Put(ctx, bytes.NewReader(data[0]), store.PutRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if inst.Uploaded {
		t.Fatal("written back, yet uploaded at once")
	}

	other := newNode(t, url, srv, "pending", store.UploadConfig{WriteThrough: true, LocalBudget: -1})
	time.Sleep(time.Second) // the other node's uploader has looked at the queue
	if st := other.a.SpoolStats(); st.UploadFailures != 0 || st.UploadedObjects != 0 {
		t.Fatalf("the other node tried the old node's object: %+v", st)
	}
	if rec, err := other.idx.Instance(ctx, sops[0]); err != nil || rec.Uploaded {
		t.Fatalf("record %+v, %v: want still pending", rec, err)
	}
	if _, err := other.remote.Open(ctx, inst.BlobKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bucket holds the old node's object: %v", err)
	}

	// The old node comes back in cluster mode: it holds the object, so it uploads it.
	back := newNodeIn(t, old.dir, url, srv, "pending", store.UploadConfig{WriteThrough: true, LocalBudget: -1})
	drain(t, back.a)
	if rec, err := back.idx.Instance(ctx, sops[0]); err != nil || !rec.Uploaded {
		t.Fatalf("record %+v, %v: want uploaded by the node holding it", rec, err)
	}
	if got := openBytes(t, other.a, sops[0]); !bytes.Equal(got, data[0]) {
		t.Fatal("the other node reads it wrong")
	}
}

// waitListener waits until a connection to the database at url is LISTENing.
func waitListener(t *testing.T, url string) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&n)
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
