package s3

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Reserved is a folder of the bucket, under the prefix, that is not blob storage: pacsd's
// own files (the SQLite replica, package store/replica). Its names start with probeDir,
// whose leading dot no blob key may have (store.ValidBlobKey), so they can never collide
// with a blob, and List, and with it `pacsd check` and its --repair, never sees them.
type Reserved struct {
	b    *Blobs
	root string // b.prefix + probeDir + dir + "/"
}

// Reserved returns the reserved folder dir (a clean relative path, "replica").
func (b *Blobs) Reserved(dir string) (*Reserved, error) {
	if !fs.ValidPath(dir) || dir == "." || strings.HasPrefix(dir, "probe-") {
		return nil, fmt.Errorf("s3 reserved folder %q: want a clean relative path", dir)
	}
	return &Reserved{b: b, root: b.prefix + probeDir + dir + "/"}, nil
}

// String names the folder for logs: bucket and full object prefix.
func (r *Reserved) String() string { return "s3://" + r.b.bucket + "/" + r.root }

func (r *Reserved) objectName(name string) (string, error) {
	if !fs.ValidPath(name) || name == "." || len(r.root)+len(name) > 1024 {
		return "", fmt.Errorf("s3 reserved object %q: want a clean relative path", name)
	}
	return r.root + name, nil
}

// Put uploads size bytes of rd as name, with the server checking a SHA-256 of the content
// and the stored size checked after, as Blobs.Put does: name holds all of them or what it
// held before.
func (r *Reserved) Put(ctx context.Context, name string, rd io.Reader, size int64) error {
	full, err := r.objectName(name)
	if err != nil {
		return err
	}
	if !r.b.checked.Load() {
		if err := r.b.Check(ctx); err != nil {
			return fmt.Errorf("put %s: %w", full, err)
		}
	}
	src := &sourceReader{r: rd, left: size}
	if size == 0 {
		if err := src.checkEnd(); err != nil {
			return fmt.Errorf("put %s: %w", full, err)
		}
	}
	up, err := r.b.client.PutObject(ctx, r.b.bucket, full, src, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    partSize,
		Checksum:    minio.ChecksumSHA256,
	})
	if err != nil {
		if src.err != nil {
			return fmt.Errorf("put %s: %w", full, src.err)
		}
		return fmt.Errorf("put %s: %w", full, r.b.classify(ctx, err))
	}
	return r.b.checkStored(ctx, name, full, up.ETag, src.n)
}

// Get returns a reader of name's content; a missing name fails with store.ErrNotFound.
func (r *Reserved) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	full, err := r.objectName(name)
	if err != nil {
		return nil, err
	}
	obj, err := r.b.client.GetObject(ctx, r.b.bucket, full, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", full, r.b.classify(ctx, err))
	}
	// GetObject asks nothing yet: Stat makes a missing object fail here, not at Read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, fmt.Errorf("get %s: %w", full, r.b.classify(ctx, err))
	}
	return obj, nil
}

// List calls fn for every object whose name starts with prefix (relative to the folder),
// in name order, with the folder's root removed.
func (r *Reserved) List(ctx context.Context, prefix string, fn func(name string, size int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range r.b.client.ListObjectsIter(ctx, r.b.bucket, minio.ListObjectsOptions{Prefix: r.root + prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("list %s%s: %w", r.root, prefix, r.b.classify(ctx, obj.Err))
		}
		if err := fn(strings.TrimPrefix(obj.Key, r.root), obj.Size); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete removes name; a missing name is not an error.
func (r *Reserved) Delete(ctx context.Context, name string) error {
	full, err := r.objectName(name)
	if err != nil {
		return err
	}
	if err := r.b.client.RemoveObject(ctx, r.b.bucket, full, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete %s: %w", full, r.b.classify(ctx, err))
	}
	return nil
}
