package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"pacsd/store"
)

// RunBlobs runs the store.Blobs contract against fresh stores made by newBlobs (one per
// subtest; clean-up is newBlobs' business, e.g. with t.Cleanup).
func RunBlobs(t *testing.T, newBlobs func(t *testing.T) store.Blobs) {
	ctx := context.Background()
	key := func(i int) string {
		return fmt.Sprintf("a%d/1.2.840.%d/1.2.840.%d.1/1.2.840.%d.1.1.0123456789abcdef.dcm", i%16, i, i, i)
	}

	t.Run("PutOpen", func(t *testing.T) {
		b := newBlobs(t)
		for _, tc := range []struct {
			name string
			key  string
			data []byte
		}{
			{"empty", key(1), nil},
			{"small", key(2), []byte("DICM not really")},
			{"one MiB", key(3), randomBytes(1<<20, 3)},
			{"top level key", "x.dcm", []byte("top")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := b.Put(ctx, tc.key, bytes.NewReader(tc.data), int64(len(tc.data))); err != nil {
					t.Fatalf("Put: %v", err)
				}
				got := readBlob(t, b, tc.key)
				if !bytes.Equal(got, tc.data) {
					t.Fatalf("read %d bytes, want %d equal bytes", len(got), len(tc.data))
				}
				if len(tc.data) > 10 {
					rc, err := b.Open(ctx, tc.key)
					if err != nil {
						t.Fatal(err)
					}
					defer rc.Close()
					if _, err := rc.Seek(7, io.SeekStart); err != nil {
						t.Fatalf("Seek: %v", err)
					}
					buf := make([]byte, 3)
					if _, err := io.ReadFull(rc, buf); err != nil || !bytes.Equal(buf, tc.data[7:10]) {
						t.Fatalf("after Seek(7) read %q, %v; want %q", buf, err, tc.data[7:10])
					}
				}
			})
		}
	})

	t.Run("UnknownSize", func(t *testing.T) {
		b := newBlobs(t)
		data := randomBytes(70000, 9)
		if err := b.Put(ctx, key(9), bytes.NewReader(data), -1); err != nil {
			t.Fatalf("Put with size -1: %v", err)
		}
		if got := readBlob(t, b, key(9)); !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		b := newBlobs(t)
		k := key(4)
		for _, v := range []string{"first version", "second"} {
			if err := b.Put(ctx, k, bytes.NewReader([]byte(v)), int64(len(v))); err != nil {
				t.Fatal(err)
			}
		}
		if got := string(readBlob(t, b, k)); got != "second" {
			t.Fatalf("got %q after overwrite", got)
		}
		if got := listBlobs(t, b); !slices.Equal(got, []string{fmt.Sprintf("%s %d", k, 6)}) {
			t.Fatalf("List = %q", got)
		}
	})

	t.Run("OpenMissing", func(t *testing.T) {
		b := newBlobs(t)
		if _, err := b.Open(ctx, key(5)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Open of a missing key: %v, want ErrNotFound", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		b := newBlobs(t)
		keep, gone := key(6), key(7)
		for _, k := range []string{keep, gone} {
			if err := b.Put(ctx, k, bytes.NewReader([]byte(k)), int64(len(k))); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Delete(ctx, gone); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := b.Open(ctx, gone); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Open after Delete: %v, want ErrNotFound", err)
		}
		if err := b.Delete(ctx, gone); err != nil {
			t.Fatalf("Delete of an absent key must succeed: %v", err)
		}
		if got := string(readBlob(t, b, keep)); got != keep {
			t.Fatalf("the other blob changed: %q", got)
		}
		if got := listBlobs(t, b); len(got) != 1 {
			t.Fatalf("List after Delete = %q", got)
		}
	})

	t.Run("List", func(t *testing.T) {
		b := newBlobs(t)
		// Object stores keep whole seconds; the check --repair grace period needs no more.
		start := time.Now().Add(-2 * time.Second)
		var want []string
		for i := range 20 {
			data := randomBytes(i*10, uint64(i))
			if err := b.Put(ctx, key(i), bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("%s %d", key(i), len(data)))
		}
		slices.Sort(want)
		if got := listBlobs(t, b); !slices.Equal(got, want) {
			t.Fatalf("List =\n%q\nwant\n%q", got, want)
		}
		// ModTime tells an orphan left by a crash from a put still in flight.
		err := b.List(ctx, func(bi store.BlobInfo) error {
			if bi.ModTime.Before(start) || bi.ModTime.After(time.Now().Add(2*time.Second)) {
				t.Errorf("List: %s ModTime %v, want about now (%v)", bi.Key, bi.ModTime, start)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		b := newBlobs(t)
		for _, k := range []string{"", "/abs/x.dcm", "../x.dcm", "a/../../x.dcm", "a//b.dcm", "./a.dcm", "a/", ".tmp/x", "a/./b"} {
			if err := b.Put(ctx, k, bytes.NewReader([]byte("x")), 1); err == nil {
				t.Errorf("Put(%q) succeeded, want an error", k)
			}
			if _, err := b.Open(ctx, k); err == nil {
				t.Errorf("Open(%q) succeeded, want an error", k)
			}
		}
		if got := listBlobs(t, b); len(got) != 0 {
			t.Fatalf("invalid keys left blobs: %q", got)
		}
	})

	t.Run("IncompletePut", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			r    io.Reader
			size int64
			ctx  func() context.Context
		}{
			{"short", bytes.NewReader([]byte("12345")), 10, context.Background},
			{"long", bytes.NewReader([]byte("12345678901")), 10, context.Background},
			{"reader error", io.MultiReader(bytes.NewReader([]byte("12345")), errReader{}), 10, context.Background},
			{"cancelled", bytes.NewReader([]byte("12345")), 5, func() context.Context {
				c, cancel := context.WithCancel(context.Background())
				cancel()
				return c
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := newBlobs(t)
				if err := b.Put(tc.ctx(), key(8), tc.r, tc.size); err == nil {
					t.Fatal("Put succeeded")
				}
				if _, err := b.Open(ctx, key(8)); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("after a failed Put, Open = %v, want ErrNotFound", err)
				}
				if got := listBlobs(t, b); len(got) != 0 {
					t.Fatalf("failed Put left %q", got)
				}
			})
		}
	})

	// A large object from a local file (the write-back uploads spooled files): backends may
	// read it by offset rather than as a stream, and must still refuse a file whose length
	// is not the declared size.
	t.Run("LargeFile", func(t *testing.T) {
		const n = 16<<20 + 4097 // more than one 16 MiB part
		data := randomBytes(n, 11)
		path := filepath.Join(t.TempDir(), "large.dcm")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			size int64
			ok   bool
		}{{"exact", n, true}, {"file shorter than declared", n + 1, false}, {"file longer than declared", n - 1, false}} {
			t.Run(tc.name, func(t *testing.T) {
				b := newBlobs(t)
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				err = b.Put(ctx, key(9), f, tc.size)
				if !tc.ok {
					if err == nil {
						t.Fatal("Put succeeded")
					}
					if got := listBlobs(t, b); len(got) != 0 {
						t.Fatalf("failed Put left %q", got)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := readBlob(t, b, key(9)); !bytes.Equal(got, data) {
					t.Fatal("large object read back differs")
				}
			})
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		b := newBlobs(t)
		var wg sync.WaitGroup
		errs := make(chan error, 80)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					k := key(g*10 + i)
					data := []byte(k)
					if err := b.Put(ctx, k, bytes.NewReader(data), int64(len(data))); err != nil {
						errs <- err
					}
					// Everybody also writes one shared key; the last rename wins whole.
					if err := b.Put(ctx, "shared.dcm", bytes.NewReader(data), int64(len(data))); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i := range 80 {
			if got := string(readBlob(t, b, key(i))); got != key(i) {
				t.Fatalf("blob %d = %q", i, got)
			}
		}
		shared := string(readBlob(t, b, "shared.dcm"))
		if len(shared) < 10 || shared[0] != 'a' {
			t.Fatalf("shared blob is torn: %q", shared)
		}
	})

	t.Run("AdoptFile", func(t *testing.T) {
		b := newBlobs(t)
		ad, ok := b.(store.FileAdopter)
		if !ok {
			t.Skip("not a FileAdopter")
		}
		src := filepath.Join(t.TempDir(), "spooled")
		data := randomBytes(100000, 11)
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := ad.AdoptFile(ctx, key(11), src); err != nil {
			t.Fatalf("AdoptFile: %v", err)
		}
		if got := readBlob(t, b, key(11)); !bytes.Equal(got, data) {
			t.Fatal("adopted content differs")
		}
		if _, err := os.Stat(src); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("source still there after AdoptFile: %v", err)
		}
		if err := ad.AdoptFile(ctx, "../escape.dcm", src); err == nil {
			t.Fatal("AdoptFile accepted an invalid key")
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readBlob(t *testing.T, b store.Blobs, key string) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}

func listBlobs(t *testing.T, b store.Blobs) []string {
	t.Helper()
	var out []string
	err := b.List(context.Background(), func(bi store.BlobInfo) error {
		out = append(out, fmt.Sprintf("%s %d", bi.Key, bi.Size))
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	slices.Sort(out)
	return out
}
