package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) store.Blobs {
		b, err := file.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestNewCleansTemp: temporary files of Puts interrupted by a crash were never acknowledged;
// New removes them once abandoned (an hour without writes), and List never shows them. A
// fresh one may belong to a Put of another process and stays.
func TestNewCleansTemp(t *testing.T) {
	root := t.TempDir()
	b, err := file.New(root)
	if err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(root, ".tmp", "put-123")
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := b.List(context.Background(), func(bi store.BlobInfo) error { listed = append(listed, bi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Fatalf("List shows temporary files: %q", listed)
	}
	if _, err := file.New(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); err != nil {
		t.Fatalf("fresh temporary file (a Put in flight elsewhere) removed by New: %v", err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(leftover, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := file.New(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("abandoned temporary file survived New: %v", err)
	}
}

// TestDeletePrunesFolders: evicting a study leaves no empty folders behind, and a Put into a
// folder that a concurrent Delete empties still lands (the rename is retried).
func TestDeletePrunesFolders(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	b, err := file.New(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ab/1.2/1.2.3/a.dcm", "ab/1.2/1.2.3/b.dcm", "ab/1.2/1.2.4/c.dcm"} {
		if err := b.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	mustExist := func(rel string, want bool) {
		t.Helper()
		_, err := os.Stat(filepath.Join(root, rel))
		if got := err == nil; got != want {
			t.Fatalf("%s exists = %v, want %v", rel, got, want)
		}
	}
	b.Delete(ctx, "ab/1.2/1.2.3/a.dcm")
	mustExist("ab/1.2/1.2.3", true) // b.dcm is still there
	b.Delete(ctx, "ab/1.2/1.2.3/b.dcm")
	mustExist("ab/1.2/1.2.3", false)
	mustExist("ab/1.2", true) // 1.2.4 is still there
	b.Delete(ctx, "ab/1.2/1.2.4/c.dcm")
	mustExist("ab", false)
	mustExist(".", true)

	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := fmt.Sprintf("cd/9.9/9.9.9/%d-%d.dcm", g, i)
				if err := b.Put(ctx, k, strings.NewReader("y"), 1); err != nil {
					errs <- err
					return
				}
				if err := b.Delete(ctx, k); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Put/Delete racing in one folder: %v", err)
	}
}
