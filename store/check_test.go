package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// gatedBlobs is a folder blob store whose List waits at two gates: before it lists (the
// check has read the index) and after (before the check's second pass over the index), so
// that a test can put objects at exactly those moments of a running check.
type gatedBlobs struct {
	*file.Blobs
	before, after gate
}

type gate struct {
	reached chan struct{} // closed when List arrives at the gate
	open    chan struct{} // closed by the test to let List go on
}

func newGate() gate { return gate{make(chan struct{}), make(chan struct{})} }

func (g gate) pass(ctx context.Context) error {
	close(g.reached)
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedBlobs) List(ctx context.Context, fn func(store.BlobInfo) error) error {
	if err := g.before.pass(ctx); err != nil {
		return err
	}
	if err := g.Blobs.List(ctx, fn); err != nil {
		return err
	}
	return g.after.pass(ctx)
}

// TestCheckInBackground: Recover cleans the spool and returns without walking the blobs
// (their listing is held at a gate and Recover does not wait for it); the start-up check
// runs in the background while objects are put, and reports the damage that was there at
// start (one indexed blob missing, one leftover blob) and nothing of what was put while
// it ran: new objects whose blobs the listing sees but the index read before did not hold,
// objects indexed after the listing, and a new version of an instance.
func TestCheckInBackground(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idx, err := sqlite.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	folder, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	blobs := &gatedBlobs{Blobs: folder, before: newGate(), after: newGate()}
	a, err := store.NewArchive(idx, blobs, store.Config{
		SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	put := func(o obj) *store.Instance {
		t.Helper()
		inst, err := a.Put(ctx, strings.NewReader(string(o.bytes())), store.PutRequest{Origin: store.Origin{Site: "site:1"}})
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	const before = 20
	for i := range before {
		put(obj{sop: fmt.Sprintf("1.2.826.0.1.1.1.%d", i+1), pixels: 10})
	}
	// Damage from before the start: an indexed blob lost, a blob of a Put that never
	// reached the index.
	lost, err := idx.Instance(ctx, "1.2.826.0.1.1.1.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := folder.Delete(ctx, lost.BlobKey); err != nil {
		t.Fatal(err)
	}
	orphan := store.BlobKey("1.9", "1.9.1", "1.9.1.1", strings.Repeat("ab", 32))
	if err := folder.Put(ctx, orphan, strings.NewReader("orphan"), 6); err != nil {
		t.Fatal(err)
	}

	if err := a.Recover(ctx); err != nil { // must not list: the gate is shut
		t.Fatal(err)
	}
	select {
	case <-blobs.before.reached:
		t.Fatal("Recover listed the blob store")
	default:
	}
	check := a.CheckInBackground(ctx)
	defer check.Stop()
	select {
	case <-blobs.before.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the background check never listed the blob store")
	}
	// The index has been read; the listing has not begun. New objects and a new version
	// of instance 2 (its old blob stays, as a kept version).
	for i := range 5 {
		put(obj{sop: fmt.Sprintf("1.2.826.0.1.1.1.%d", 100+i), pixels: 10})
	}
	put(obj{sop: "1.2.826.0.1.1.1.2", pixels: 10, fill: 7})
	close(blobs.before.open)
	<-blobs.after.reached
	// Listed; the second pass over the index has not begun.
	for i := range 5 {
		put(obj{sop: fmt.Sprintf("1.2.826.0.1.1.1.%d", 200+i), pixels: 10})
	}
	close(blobs.after.open)

	c, err := check.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if c.Missing != 1 || c.Unreferenced != 1 || c.StaleLocal+c.LocalMissing != 0 {
		t.Fatalf("background check = %+v, want exactly 1 missing and 1 unreferenced", c)
	}
	if c.Referenced != before {
		t.Fatalf("background check referenced %d, want the %d indexed when it began", c.Referenced, before)
	}
	// A check now, with nothing running, sees everything put meanwhile as fine.
	blobs.before, blobs.after = newGate(), newGate()
	close(blobs.before.open)
	close(blobs.after.open)
	c, err = a.Check(ctx, store.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := before + 5 + 1 + 5; c.Referenced != want || c.Missing != 1 || c.Unreferenced != 1 {
		t.Fatalf("check after = %+v, want %d referenced, 1 missing, 1 unreferenced", c, want)
	}
}

// TestCheckInBackgroundStop: Stop ends a check that is still running (at shutdown, before
// the index closes) and waits for it.
func TestCheckInBackgroundStop(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idx, err := sqlite.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	folder, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	blobs := &gatedBlobs{Blobs: folder, before: newGate(), after: newGate()}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	check := a.CheckInBackground(ctx)
	<-blobs.before.reached
	check.Stop() // the gate never opens: only the cancellation ends the listing
	if _, err := check.Wait(); err == nil {
		t.Fatal("a stopped check reported success")
	}
}

// BenchmarkStartupCheck compares what start-up waits for (Recover, and starting the
// background check) with the check itself, over a store of 5,000 objects: the first
// stays flat as the store grows, the second grows with it. The objects are written
// straight into the folder (unreferenced: the check walks them all and confirms each
// with the index, the slow case; one run here: recover 0.25 ms, check 9 s for 20,000).
func BenchmarkStartupCheck(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	idx, err := sqlite.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { idx.Close() })
	folder, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	const objects = 5000
	for i := range objects {
		key := store.BlobKey("1.2.3", fmt.Sprintf("1.2.3.%d", i%100), fmt.Sprintf("1.2.3.%d.%d", i%100, i), strings.Repeat("0", 64))
		path := filepath.Join(dir, "blobs", filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := store.NewArchive(idx, folder, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("recover", func(b *testing.B) {
		for b.Loop() {
			if err := a.Recover(ctx); err != nil {
				b.Fatal(err)
			}
			check := a.CheckInBackground(ctx)
			b.StopTimer()
			if c, err := check.Wait(); err != nil || c.Stored != objects {
				b.Fatalf("check: %+v, %v", c, err)
			}
			b.StartTimer()
		}
	})
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if c, err := a.Check(ctx, store.CheckOptions{}); err != nil || c.Stored != objects {
				b.Fatalf("check: %+v, %v", c, err)
			}
		}
	})
}
