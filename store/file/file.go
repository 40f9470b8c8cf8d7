package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"pacsd/store"
)

// tmpDir holds objects being written by Put; it sits under the root so that the final rename
// never crosses a filesystem. List skips it and keys may not name it.
const tmpDir = ".tmp"

// staleTemp is how long a temporary file must have been left alone to count as abandoned.
const staleTemp = time.Hour

// Blobs is a store.Blobs (and store.FileAdopter) on a local folder.
type Blobs struct {
	root string
}

var (
	_ store.Blobs       = (*Blobs)(nil)
	_ store.FileAdopter = (*Blobs)(nil)
)

// New opens (creating when needed) a blob folder at root. Leftover temporary files of
// interrupted Puts are removed: nothing in .tmp was ever acknowledged. Only those not
// written to for an hour, since another process (`pacsd check` beside a serving pacsd)
// may open the same folder while a Put is writing one.
func New(root string) (*Blobs, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob folder %s: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), 0o750); err != nil {
		return nil, fmt.Errorf("blob folder %s: %w", root, err)
	}
	entries, err := os.ReadDir(filepath.Join(abs, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("blob folder %s: %w", root, err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < staleTemp {
			continue
		}
		if err := os.RemoveAll(filepath.Join(abs, tmpDir, e.Name())); err != nil {
			return nil, fmt.Errorf("blob folder %s: clean %s: %w", root, e.Name(), err)
		}
	}
	return &Blobs{root: abs}, nil
}

// Root is the folder the blobs live in.
func (b *Blobs) Root() string { return b.root }

func (b *Blobs) path(key string) (string, error) {
	if !store.ValidBlobKey(key) {
		return "", fmt.Errorf("blob key %q: %w", key, store.ErrInvalid)
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

// Put writes r to a temporary file, fsyncs it and renames it over key. When size >= 0 the
// object must have exactly size bytes, else nothing is stored.
func (b *Blobs) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	dst, err := b.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Join(b.root, tmpDir), "put-*")
	if err != nil {
		return ioErr("put blob "+key, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, store.ContextReader(ctx, r))
	if err != nil {
		return ioErr("put blob "+key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("put blob %s: got %d bytes, want %d: %w", key, n, size, store.ErrInvalid)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return ioErr("put blob "+key, err)
	}
	return b.place(ctx, key, tmp, dst)
}

// AdoptFile renames the file at path (normally a spooled object on the same filesystem) to
// key and makes it durable (see place), so callers need not fsync it. When path is on
// another filesystem (EXDEV) the object is copied with Put and the source removed.
func (b *Blobs) AdoptFile(ctx context.Context, key, path string) error {
	dst, err := b.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("adopt blob %s: %w", key, err)
	}
	err = b.place(ctx, key, path, dst)
	if errors.Is(err, syscall.EXDEV) {
		if err := b.copyFrom(ctx, key, path); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("adopt blob %s: remove source: %w", key, err)
		}
		return nil
	}
	return err
}

func (b *Blobs) copyFrom(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return ioErr("adopt blob "+key, err)
	}
	defer f.Close()
	return b.Put(ctx, key, f, -1)
}

// place renames src to dst and makes both durable: src's bytes, dst's name and every
// directory made for it. All the metadata changes (new directories, the rename) come first
// and the fsyncs after, the file's first: on a journalling filesystem (ext4, XFS) that
// first fsync commits one journal transaction holding them all, and the directories' fsyncs
// that follow find nothing left to commit. Syncing the file before the rename and each
// directory as it is made costs one journal commit each, three or four per object, which
// dominated small-object ingest (store/file's part of issue 15). Every fsync still happens
// before place returns, so nothing depends on how a filesystem orders its metadata.
//
// A crash before place returns may leave dst named but with its bytes not yet on disk: a
// Put that had not returned, never indexed nor acknowledged, whose blob Check reports as
// unreferenced and a re-sent copy replaces. An object already at dst (the same content
// stored before, which a kept version may reference) is never replaced by bytes not yet
// durable: src is synced before the rename then.
func (b *Blobs) place(ctx context.Context, key, src, dst string) error {
	var made []string // directories that gained an entry: the parents of new directories
	for try := 0; ; try++ {
		// The folders are usually there already (a series' objects share one): they are
		// made only when the rename finds them missing, which saves a mkdir per path
		// element of every object.
		if try > 0 {
			m, err := b.mkdirs(filepath.Dir(dst))
			made = append(made, m...)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && try < 10 {
					continue // a parent was pruned by a concurrent Delete mid-way
				}
				return ioErr("place blob "+key, err)
			}
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("place blob %s: %w", key, err)
		}
		if _, err := os.Lstat(dst); err == nil {
			if err := syncFile(src); err != nil {
				return ioErr("place blob "+key, err)
			}
		}
		err := os.Rename(src, dst)
		if err == nil {
			break
		}
		// The folder is missing: not made yet, or a Delete of the folder's last other
		// object removed it between mkdirs and the rename. Make it (again).
		if !errors.Is(err, fs.ErrNotExist) || try >= 10 {
			return ioErr("place blob "+key, err)
		}
		if _, serr := os.Stat(src); serr != nil {
			return ioErr("place blob "+key, err) // it is the source that is gone
		}
	}
	if err := syncFile(dst); err != nil {
		return ioErr("place blob "+key, err)
	}
	for _, dir := range append(made, filepath.Dir(dst)) {
		if err := syncDir(dir); err != nil {
			return ioErr("place blob "+key, err)
		}
	}
	return nil
}

// mkdirs creates dir and its missing parents below the root. It returns the directories
// that gained an entry (the parent of each one made), for the caller to fsync, also when it
// fails part way.
func (b *Blobs) mkdirs(dir string) (made []string, err error) {
	rel, err := filepath.Rel(b.root, dir)
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, nil
	}
	cur := b.root
	for _, el := range strings.Split(rel, string(filepath.Separator)) {
		next := filepath.Join(cur, el)
		err := os.Mkdir(next, 0o750)
		switch {
		case err == nil:
			made = append(made, cur)
		case errors.Is(err, fs.ErrExist):
		default:
			return made, err
		}
		cur = next
	}
	return made, nil
}

// Open returns the object as an *os.File, or an error wrapping store.ErrNotFound.
func (b *Blobs) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	p, err := b.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open blob %s: %w", key, err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, ioErr("open blob "+key, err)
	}
	return f, nil
}

// Delete removes the object, and the folders it leaves empty (a write-back cache evicts
// whole studies; years of empty study folders would slow every walk). Deleting an absent
// key is not an error. The directory is not fsync'd: a delete lost in a crash leaves an
// unreferenced blob, which Archive.Recover reports.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioErr("delete blob "+key, err)
	}
	// rmdir(2) fails on a folder that is not empty, so a folder a concurrent Put is
	// filling stays (and place retries if it lost the race before its rename).
	for dir := filepath.Dir(p); dir != b.root && strings.HasPrefix(dir, b.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// List walks the folder in lexical order, skipping the temporary folder.
func (b *Blobs) List(ctx context.Context, fn func(store.BlobInfo) error) error {
	err := filepath.WalkDir(b.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != b.root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while walking
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(b.root, p)
		if err != nil {
			return err
		}
		return fn(store.BlobInfo{Key: filepath.ToSlash(rel), Size: info.Size(), ModTime: info.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("list blobs in %s: %w", b.root, err)
	}
	return nil
}

// ioErr wraps err with op, adding store.ErrNoSpace for a full disk or quota so that
// transports answer "out of resources" rather than a generic failure.
func ioErr(op string, err error) error {
	if store.IsNoSpace(err) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrNoSpace, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// fsync is (*os.File).Sync; the durability test records the calls.
var fsync = (*os.File).Sync

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fsync(f)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := fsync(d); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
