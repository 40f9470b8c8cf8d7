package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"pacsd/store"
)

// TestPutDiskFull fills a real 1 MiB filesystem (tmpfs, so it needs root) holding the spool
// and the blobs: the Put that does not fit must fail with ErrNoSpace and leave nothing
// behind, and everything acknowledged before must be intact.
func TestPutDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s); skipping the real ENOSPC test", err, bytes.TrimSpace(out))
	}
	// Registered before newEnvAt's cleanups, so it runs after the index is closed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	e := newEnvAt(t, dir, t.TempDir())
	ctx := context.Background()
	type sent struct {
		sop  string
		data []byte
	}
	var acked []sent
	var full error
	for i := 0; i < 50 && full == nil; i++ {
		o := obj{sop: fmt.Sprintf("1.2.826.0.1.1.1.%d", i), pixels: 100000, fill: byte(i)}
		data := o.bytes()
		if _, err := e.a.Put(ctx, bytes.NewReader(data), store.PutRequest{}); err != nil {
			full = err
			continue
		}
		acked = append(acked, sent{o.sop, data})
	}
	if !errors.Is(full, store.ErrNoSpace) {
		t.Fatalf("after %d objects: Put = %v, want ErrNoSpace", len(acked), full)
	}
	if len(acked) == 0 {
		t.Fatal("not even one object fitted")
	}
	for _, s := range acked {
		_, rc, err := e.a.Open(ctx, s.sop)
		if err != nil {
			t.Fatalf("acknowledged %s: %v", s.sop, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, s.data) {
			t.Fatalf("acknowledged %s changed (%d bytes, %v)", s.sop, len(got), err)
		}
	}
	if s := e.spoolFiles(t); len(s) != 0 {
		t.Fatalf("spool files left: %q", s)
	}
	c, err := e.a.Check(ctx, store.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Missing != 0 || c.Unreferenced != 0 || c.Referenced != len(acked) {
		t.Fatalf("Check = %+v with %d acknowledged", c, len(acked))
	}
	t.Logf("%d objects stored before the disk was full: %v", len(acked), full)
}
