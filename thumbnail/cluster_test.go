package thumbnail_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pacsd/internal/pgtest"
	"pacsd/store"
	"pacsd/store/derived"
	"pacsd/store/file"
	"pacsd/store/postgres"
	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
	"pacsd/thumbnail"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// clusterNode is one node of a cluster: its own disk (local blobs, thumbnail cache), the
// shared PostgreSQL index and bucket, writing through; thumbnails shared in the bucket.
func clusterNode(t *testing.T, url string, srv *miniotest.Server, start bool) (*env, *s3.Blobs) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	idx, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := s3.Config{Endpoint: srv.Endpoint, Bucket: "cluster", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	remote, err := s3.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1,
		Logger: log, Remote: remote, Upload: store.UploadConfig{WriteThrough: true, LocalBudget: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx, cfg.Name()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	shared, err := derived.Open(remote)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := thumbnail.New(a, thumbnail.Config{Dir: filepath.Join(dir, "thumbs"), MaxWait: time.Second, Logger: log, Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	if start {
		svc.Start(ctx)
		t.Cleanup(svc.Close)
	}
	return &env{a: a, svc: svc, dir: dir}, remote
}

// TestClusterMadeOnce: two nodes over one index and one bucket. Node A makes the
// thumbnail of each object it receives once; node B serves them from the bucket and makes
// none, even after losing its cache; a thumbnail missing from the bucket (A died before
// making it) B makes once, and puts it for the others.
func TestClusterMadeOnce(t *testing.T) {
	srv := miniotest.Start(t)
	url := pgtest.DB(t)
	ctx := context.Background()
	a, remote := clusterNode(t, url, srv, true)
	b, _ := clusterNode(t, url, srv, false)

	images := []string{"dr_mono2.dcm", "dr_mono1.dcm", "ts_jpeg_lossless.dcm", "ts_rle.dcm"}
	var ins []*store.Instance
	for _, n := range images {
		ins = append(ins, a.put(t, n))
	}
	n := int64(len(ins))
	deadline := time.Now().Add(60 * time.Second)
	for a.svc.Stats().Made < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := a.svc.Stats(); st.Made != n || st.Fetched != 0 {
		t.Fatalf("node A after ingest: %+v, want %d made, none fetched", st, n)
	}
	want := map[string][]byte{}
	for _, in := range ins {
		got, err := a.svc.Instance(ctx, in.SOPInstanceUID)
		if err != nil {
			t.Fatal(err)
		}
		want[in.SOPInstanceUID] = got
	}
	check := func(what string, made, fetched int64) {
		t.Helper()
		for _, in := range ins {
			got, err := b.svc.Instance(ctx, in.SOPInstanceUID)
			if err != nil {
				t.Fatalf("%s: node B thumbnail of %s: %v", what, in.SOPInstanceUID, err)
			}
			if string(got) != string(want[in.SOPInstanceUID]) {
				t.Fatalf("%s: node B's thumbnail of %s is not node A's", what, in.SOPInstanceUID)
			}
		}
		if st := b.svc.Stats(); st.Made != made || st.Fetched != fetched {
			t.Fatalf("%s: node B %+v, want %d made, %d fetched", what, st, made, fetched)
		}
	}
	check("from the bucket", 0, n)
	check("from B's cache", 0, n)
	b.clearCache(t)
	check("B's cache lost", 0, 2*n)
	if st := a.svc.Stats(); st.Made != n {
		t.Fatalf("node A made %d, want %d: each thumbnail once", st.Made, n)
	}

	// A died before making the first one: B makes it, once, and shares it.
	folder, err := remote.Reserved(derived.Folder)
	if err != nil {
		t.Fatal(err)
	}
	lost := ins[0]
	key := derived.Key("thumbnails", lost.SOPInstanceUID, lost.SHA256, "jpg")
	if err := folder.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	b.clearCache(t)
	check("one missing from the bucket", 1, 3*n-1)
	shared, err := derived.Open(remote)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := shared.Get(ctx, key); err != nil || len(got) == 0 {
		t.Fatalf("thumbnail B made is not in the bucket: %d bytes, %v", len(got), err)
	}
	// The artifacts are no blobs: the bucket's listing (pacsd check, reindex) sees the
	// objects only.
	var keys int
	if err := remote.List(ctx, func(store.BlobInfo) error { keys++; return nil }); err != nil {
		t.Fatal(err)
	}
	if keys != len(ins) {
		t.Fatalf("blob listing has %d keys, want the %d objects", keys, len(ins))
	}
}
