package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pacsd/store"
	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
	"pacsd/store/storetest"
)

// The write-back spool against a real MinIO server: acknowledged objects reach the bucket
// verified, survive the bucket going away and pacsd restarting, and are read back from
// wherever they are.

type wbEnv struct {
	*env
	srv    *miniotest.Server
	remote *s3.Blobs
	cfg    s3.Config
}

func newWBEnv(t *testing.T, srv *miniotest.Server, bucket string, dir string, up store.UploadConfig, mut ...func(*store.Config)) *wbEnv {
	t.Helper()
	cfg := s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	remote, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if up.RetryMin == 0 {
		up.RetryMin, up.RetryMax = 50*time.Millisecond, 500*time.Millisecond
	}
	e := newEnvAt(t, dir, dir, append([]func(*store.Config){func(c *store.Config) {
		c.Remote = remote
		c.Upload = up
	}}, mut...)...)
	if err := e.a.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Start(context.Background(), cfg.Name()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.a.Close() })
	return &wbEnv{env: e, srv: srv, remote: remote, cfg: cfg}
}

func drain(t *testing.T, a *store.Archive) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Drain(ctx); err != nil {
		t.Fatalf("%v (stats %+v)", err, a.SpoolStats())
	}
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// remoteBytes reads key from the bucket.
func remoteBytes(t *testing.T, b store.Blobs, key string) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("remote open %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func remoteKeys(t *testing.T, b store.Blobs) []string {
	t.Helper()
	var keys []string
	if err := b.List(context.Background(), func(bi store.BlobInfo) error { keys = append(keys, bi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// studyObjs makes n objects of different sizes and contents in one series of the study.
func studyObjs(study string, n int) (data [][]byte, sops []string) {
	for i := range n {
		o := obj{study: study, series: study + ".1", sop: fmt.Sprintf("%s.1.%d", study, i+1),
			pixels: 1000 + 300*i, fill: byte(i)}
		data = append(data, o.bytes())
		sops = append(sops, o.sop)
	}
	return data, sops
}

func openBytes(t *testing.T, a *store.Archive, sop string) []byte {
	t.Helper()
	_, rc, err := a.Open(context.Background(), sop)
	if err != nil {
		t.Fatalf("Open %s: %v", sop, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWriteBack(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	objs := func(prefix string, n int) ([][]byte, []string) { return studyObjs("1.2.826.0.1."+prefix, n) }

	t.Run("UploadVerifyEvict", func(t *testing.T) {
		e := newWBEnv(t, srv, "wb-upload", t.TempDir(), store.UploadConfig{LocalBudget: 0})
		data, sops := objs("1", 6)
		var insts []*store.Instance
		for _, d := range data {
			insts = append(insts, e.put(t, d, store.PutRequest{}))
		}
		drain(t, e.a)
		st := e.a.SpoolStats()
		if st.PendingObjects != 0 || st.UploadedObjects != 6 || st.EvictedObjects != 6 || st.LocalBytes != 0 {
			t.Fatalf("stats after drain: %+v", st)
		}
		for i, in := range insts {
			if got := remoteBytes(t, e.remote, in.BlobKey); !bytes.Equal(got, data[i]) {
				t.Fatalf("bucket copy of %s differs", sops[i])
			}
			rec, err := e.idx.Instance(ctx, sops[i])
			if err != nil || !rec.Uploaded || !rec.Evicted {
				t.Fatalf("index after upload: %+v %v", rec, err)
			}
			// Evicted: read from the bucket, same bytes.
			if got := openBytes(t, e.a, sops[i]); sum(got) != sum(data[i]) {
				t.Fatalf("Open %s after eviction: wrong bytes", sops[i])
			}
		}
		if k := e.blobKeys(t); len(k) != 0 {
			t.Fatalf("local copies left with a zero budget: %q", k)
		}
		// A duplicate of an uploaded, evicted instance is acknowledged without a write.
		again := e.put(t, data[0], store.PutRequest{})
		if !again.Uploaded || len(e.blobKeys(t)) != 0 {
			t.Fatalf("duplicate re-stored: %+v", again)
		}
		c, err := e.a.Check(ctx, store.CheckOptions{Remote: true, Hash: true})
		if err != nil || c.Problems() || c.RemoteStored != 6 || c.Referenced != 6 {
			t.Fatalf("Check = %+v, %v", c, err)
		}
	})

	t.Run("BudgetKeepsNewest", func(t *testing.T) {
		data, sops := objs("2", 5)
		var total int64
		for _, d := range data[2:] {
			total += int64(len(d))
		}
		// Room for the three newest objects only. One upload worker, so that objects are
		// uploaded (and become evictable) in the order received: with several, a newer one
		// may be uploaded first and evicted while an older one still waits, which is right
		// for the archive (never evict what is not uploaded) but not what this test checks.
		clk := newTestClock()
		e := newWBEnv(t, srv, "wb-budget", t.TempDir(), store.UploadConfig{LocalBudget: total, Workers: 1}, store.WithClock(clk.Now))
		for _, d := range data {
			e.put(t, d, store.PutRequest{})
			clk.Add(time.Millisecond) // distinct received times
		}
		clk.Add(store.IngestGap) // ingest has paused
		drain(t, e.a)
		for i, sop := range sops {
			rec, err := e.idx.Instance(ctx, sop)
			if err != nil {
				t.Fatal(err)
			}
			if want := i < 2; rec.Evicted != want {
				t.Errorf("%s (received #%d): evicted = %v, want %v", sop, i, rec.Evicted, want)
			}
		}
		if st := e.a.SpoolStats(); st.LocalBytes != total {
			t.Fatalf("local bytes %d, want %d", st.LocalBytes, total)
		}
	})

	t.Run("RemoteDownThenBack", func(t *testing.T) {
		own := miniotest.Start(t)
		dir := t.TempDir()
		e := newWBEnv(t, own, "wb-down", dir, store.UploadConfig{LocalBudget: -1})
		own.Stop()
		data, sops := objs("3", 4)
		for _, d := range data {
			e.put(t, d, store.PutRequest{}) // acknowledged with the bucket gone
		}
		deadline := time.Now().Add(20 * time.Second)
		for e.a.SpoolStats().UploadFailures == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		st := e.a.SpoolStats()
		if st.UploadFailures == 0 || st.PendingObjects != 4 || st.RemoteDownSince.IsZero() {
			t.Fatalf("stats with the bucket down: %+v", st)
		}
		// Reads come from the spool meanwhile.
		if got := openBytes(t, e.a, sops[0]); !bytes.Equal(got, data[0]) {
			t.Fatal("read from the spool while the bucket is down: wrong bytes")
		}
		own.Restart()
		drain(t, e.a)
		if st := e.a.SpoolStats(); !st.RemoteDownSince.IsZero() || st.UploadedObjects != 4 {
			t.Fatalf("stats after the bucket came back: %+v", st)
		}
		if got := len(remoteKeys(t, e.remote)); got != 4 {
			t.Fatalf("%d objects in the bucket, want 4", got)
		}
	})

	t.Run("ResumeAfterRestart", func(t *testing.T) {
		own := miniotest.Start(t)
		dir := t.TempDir()
		e := newWBEnv(t, own, "wb-resume", dir, store.UploadConfig{LocalBudget: -1})
		own.Stop()
		data, sops := objs("4", 3)
		for _, d := range data {
			e.put(t, d, store.PutRequest{})
		}
		// pacsd goes away with everything pending (Close abandons uploads, as a crash would).
		e.a.Close()
		e.idx.Close()
		own.Restart()
		e2 := newWBEnv(t, own, "wb-resume", dir, store.UploadConfig{LocalBudget: 0})
		drain(t, e2.a)
		for i, sop := range sops {
			rec, err := e2.idx.Instance(ctx, sop)
			if err != nil || !rec.Uploaded {
				t.Fatalf("%s after restart: %+v %v", sop, rec, err)
			}
			if got := remoteBytes(t, e2.remote, rec.BlobKey); !bytes.Equal(got, data[i]) {
				t.Fatalf("%s: bucket copy differs", sop)
			}
		}
	})

	t.Run("SpoolHardLimit", func(t *testing.T) {
		own := miniotest.Start(t)
		data, _ := objs("5", 3)
		limit := int64(len(data[0])) // one object fits; the second goes over
		e := newWBEnv(t, own, "wb-limit", t.TempDir(), store.UploadConfig{MaxPending: limit, LocalBudget: -1})
		own.Stop()
		e.put(t, data[0], store.PutRequest{})
		e.put(t, data[1], store.PutRequest{}) // at the limit, not over: accepted
		_, err := e.a.Put(ctx, bytes.NewReader(data[2]), store.PutRequest{})
		if !errors.Is(err, store.ErrNoSpace) {
			t.Fatalf("Put over the spool limit = %v, want ErrNoSpace", err)
		}
		if len(e.spoolFiles(t)) != 0 {
			t.Fatal("refused Put left a spool file")
		}
		own.Restart()
		drain(t, e.a)
		if _, err := e.a.Put(ctx, bytes.NewReader(data[2]), store.PutRequest{}); err != nil {
			t.Fatalf("Put after the spool drained: %v", err)
		}
	})

	t.Run("ReplacedAfterUpload", func(t *testing.T) {
		e := newWBEnv(t, srv, "wb-replace", t.TempDir(), store.UploadConfig{LocalBudget: -1})
		v1 := obj{study: "1.2.826.0.1.6", sop: "1.2.826.0.1.6.1.1", pixels: 2000, fill: 1}
		v2 := v1
		v2.fill = 2
		same := store.PutRequest{Origin: store.Origin{Transport: "dimse", CallingAE: "DR1", Site: "site:1"}}
		in1 := e.put(t, v1.bytes(), same)
		drain(t, e.a)
		in2 := e.put(t, v2.bytes(), same)
		drain(t, e.a)
		// The replaced version stays where it was (uploaded), the new one is uploaded too.
		keys := remoteKeys(t, e.remote)
		slices.Sort(keys)
		want := []string{in1.BlobKey, in2.BlobKey}
		slices.Sort(want)
		if !slices.Equal(keys, want) || in1.BlobKey == in2.BlobKey {
			t.Fatalf("bucket after replacement = %q, want %q", keys, want)
		}
		if got := openBytes(t, e.a, in2.SOPInstanceUID); !bytes.Equal(got, v2.bytes()) {
			t.Fatal("Open after replacement: not the new version")
		}
	})

	// Versions: the overwrite rule and kept versions with every object uploaded and its
	// local copy evicted at once (LocalBudget 0): a kept version is read, checked and
	// restored from the bucket.
	t.Run("Versions", func(t *testing.T) {
		n := 0
		storetest.RunArchiveVersions(t, func(t *testing.T) *store.Archive {
			n++
			return newWBEnv(t, srv, fmt.Sprintf("wb-versions-%d", n), t.TempDir(), store.UploadConfig{YieldMax: -1}).a
		})
	})

	t.Run("DamagedLocalCopyIsNotUploaded", func(t *testing.T) {
		own := miniotest.Start(t)
		var logs logCounter
		e := newWBEnv(t, own, "wb-damaged", t.TempDir(), store.UploadConfig{LocalBudget: -1}, func(c *store.Config) {
			logs = newLogCounter(c.Logger.Handler())
			c.Logger = slog.New(logs)
		})
		own.Stop()
		good, _ := objs("7", 2)
		inBad := e.put(t, good[0], store.PutRequest{})
		e.put(t, good[1], store.PutRequest{})
		// Flip a byte of the spooled copy behind the archive's back (a bad disk sector).
		p := filepath.Join(e.blobs.Root(), filepath.FromSlash(inBad.BlobKey))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-1] ^= 0xff
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		own.Restart()
		waitUntil(t, "the good object's upload", func() bool { return e.a.SpoolStats().UploadedObjects >= 1 })
		// The damaged one has been tried too once the uploader has said so.
		waitUntil(t, "the damaged copy's refusal", func() bool {
			return logs.count("cannot upload: the local copy is damaged or gone; retrying in 10 min") > 0
		})
		st := e.a.SpoolStats()
		if st.UploadedObjects != 1 || st.PendingObjects != 1 {
			t.Fatalf("stats: %+v, want the good object uploaded and the damaged one pending", st)
		}
		for _, k := range remoteKeys(t, e.remote) {
			if k == inBad.BlobKey {
				t.Fatal("damaged copy reached the bucket")
			}
		}
		c, err := e.a.Check(ctx, store.CheckOptions{Remote: true, Hash: true})
		if err != nil || c.HashMismatch != 1 {
			t.Fatalf("Check = %+v, %v; want one hash mismatch", c, err)
		}
	})

	t.Run("CheckAndRepair", func(t *testing.T) {
		e := newWBEnv(t, srv, "wb-check", t.TempDir(), store.UploadConfig{LocalBudget: 0})
		data, sops := objs("8", 3)
		var insts []*store.Instance
		for _, d := range data {
			insts = append(insts, e.put(t, d, store.PutRequest{}))
		}
		drain(t, e.a)
		// An orphan in the bucket (a crash between upload and replacement cleanup), a
		// stray local file, and an uploaded object lost from the bucket.
		if err := e.remote.Put(ctx, "aa/1.2/1.2.3/1.2.3.4.0000000000000000.dcm", strings.NewReader("orphan"), 6); err != nil {
			t.Fatal(err)
		}
		if err := e.blobs.Put(ctx, "bb/9.9/9.9.9/9.9.9.9.0000000000000000.dcm", strings.NewReader("stray"), 5); err != nil {
			t.Fatal(err)
		}
		if err := e.remote.Delete(ctx, insts[2].BlobKey); err != nil {
			t.Fatal(err)
		}
		c, err := e.a.Check(ctx, store.CheckOptions{Remote: true})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Consistency{Referenced: 3, Stored: 1, Missing: 1, Unreferenced: 1, RemoteStored: 3, RemoteUnreferenced: 1}
		if c != want {
			t.Fatalf("Check = %+v\nwant    %+v", c, want)
		}
		// Repair within the grace period touches nothing.
		if c, err = e.a.Check(ctx, store.CheckOptions{Remote: true, Repair: true, Grace: time.Hour}); err != nil || c.Repaired != 0 {
			t.Fatalf("Repair inside the grace period: %+v, %v", c, err)
		}
		c, err = e.a.Check(ctx, store.CheckOptions{Remote: true, Repair: true, Grace: time.Nanosecond})
		if err != nil || c.Repaired != 2 {
			t.Fatalf("Repair: %+v, %v; want 2 removed", c, err)
		}
		c, err = e.a.Check(ctx, store.CheckOptions{Remote: true})
		if err != nil || c.Unreferenced+c.RemoteUnreferenced != 0 || c.Missing != 1 {
			t.Fatalf("after Repair: %+v, %v (the lost object stays reported)", c, err)
		}
		if _, _, err := e.a.Open(ctx, sops[2]); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Open of the lost object = %v, want ErrUnavailable", err)
		}
	})

	t.Run("YieldToIngest", func(t *testing.T) {
		const yieldMax = 2 * time.Second
		clk := newTestClock()
		e := newWBEnv(t, srv, "wb-yield", t.TempDir(), store.UploadConfig{LocalBudget: -1, YieldMax: yieldMax}, store.WithClock(clk.Now))
		data, _ := objs("10", 2)
		e.put(t, data[0], store.PutRequest{})
		// A second object arrives slowly: a Put is in progress.
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := e.a.Put(ctx, pr, store.PutRequest{})
			done <- err
		}()
		pw.Write(data[1][:200]) // returns once the Put has read it
		// The gap after the first Put passes; only the Put in progress keeps ingest going.
		clk.Add(store.IngestGap)
		// The uploader reads the clock once each time it weighs the first object against
		// ingest (Ingesting reads it too when no Put runs). Three readings mean it has come
		// back to the object: it would not have, had it let the upload go.
		seen := clk.reads.Load()
		waitUntil(t, "the uploader to weigh the pending object again", func() bool { return clk.reads.Load() >= seen+3 })
		if st := e.a.SpoolStats(); st.UploadedObjects != 0 {
			t.Fatalf("uploaded while a Put was in progress and nothing had waited YieldMax: %+v", st)
		}
		// Past YieldMax the first object goes up even though ingest has not paused.
		clk.Add(yieldMax)
		waitUntil(t, "the upload after YieldMax", func() bool { return e.a.SpoolStats().UploadedObjects != 0 })
		if st := e.a.SpoolStats(); st.UploadedObjects != 1 {
			t.Fatalf("not uploaded after YieldMax: %+v", st)
		}
		pw.Write(data[1][200:])
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		clk.Add(store.IngestGap) // ingest has paused
		drain(t, e.a)
	})

	t.Run("StartRefusesWrongRemote", func(t *testing.T) {
		dir := t.TempDir()
		e := newWBEnv(t, srv, "wb-name", dir, store.UploadConfig{LocalBudget: 0})
		data, _ := objs("9", 1)
		e.put(t, data[0], store.PutRequest{})
		drain(t, e.a)
		e.a.Close()
		e.idx.Close()
		// Without any remote: the evicted object would be unreachable.
		folder := newEnvAt(t, dir, dir)
		if err := folder.a.Start(ctx, ""); err == nil || !strings.Contains(err.Error(), "only in the remote store") {
			t.Fatalf("folder-only Start over an evicted archive = %v", err)
		}
		folder.idx.Close()
		// With another bucket.
		other, err := s3.New(ctx, s3.Config{Endpoint: srv.Endpoint, Bucket: "wb-other", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		moved := newEnvAt(t, dir, dir, func(c *store.Config) { c.Remote = other })
		if err := moved.a.Start(ctx, "s3:wb-other/"); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Start with another bucket = %v, want ErrInvalid", err)
		}
	})
}
