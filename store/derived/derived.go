// Package derived shares what pacsd derives from a stored object (a thumbnail, a DICOMweb
// metadata record) between the nodes of a cluster, so that each is made once rather than
// once per node: the node that receives an object makes them after ingest and puts them
// here as well as in its own cache; another node, on a miss in its cache, gets them from
// here, and makes one itself only when it is absent (the receiving node died first).
//
// Keys name an object version (SOP Instance UID and content SHA-256, as the local caches
// do), so a replaced instance never finds its predecessor's artifact. A put is idempotent:
// two nodes that miss at once both make the artifact and both put the same bytes, so an
// artifact is made at most twice, never served stale.
package derived

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"pacsd/store"
	"pacsd/store/s3"
)

// Store is the shared place. Get fails with store.ErrNotFound when the key is absent.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, b []byte) error
}

// Folder is the bucket's reserved folder the artifacts live in (store/s3 Reserved: under
// <prefix>/.pacsd/, which no blob key can take and which `pacsd check`, reindex and the
// database replica leave alone).
const Folder = "derived"

// MaxSize bounds what Get reads back: a thumbnail is kilobytes, a metadata record with a
// large multi-frame table tens of megabytes.
const MaxSize = 256 << 20

// Key names the artifact of kind ("thumbnails", "metadata") of one object version, with
// ext its file extension ("jpg", "json"). UIDs are digits and dots, the SHA-256 hex.
func Key(kind, sop, sha, ext string) string {
	return kind + "/" + sop + "." + sha + "." + ext
}

// Bucket is the Store over a bucket's reserved folder.
type Bucket struct{ r *s3.Reserved }

// Open returns the Store in b's reserved Folder. It does not contact the server.
func Open(b *s3.Blobs) (*Bucket, error) {
	r, err := b.Reserved(Folder)
	if err != nil {
		return nil, fmt.Errorf("derived: %w", err)
	}
	return New(r), nil
}

// New returns the Store in r, a bucket's reserved Folder opened by the caller.
func New(r *s3.Reserved) *Bucket { return &Bucket{r: r} }

// String names the folder for logs.
func (b *Bucket) String() string { return b.r.String() }

// Get returns the artifact at key; store.ErrNotFound when there is none.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	rc, err := b.r.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out, err := io.ReadAll(io.LimitReader(rc, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("derived %s: %w", key, err)
	}
	if len(out) > MaxSize {
		return nil, fmt.Errorf("derived %s: larger than %d bytes", key, MaxSize)
	}
	return out, nil
}

// Put stores b at key (the whole of it or, on failure, what was there before).
func (b *Bucket) Put(ctx context.Context, key string, data []byte) error {
	return b.r.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
}

// List calls fn with the key of every artifact of kind (for tests and tools).
func (b *Bucket) List(ctx context.Context, kind string, fn func(key string) error) error {
	return b.r.List(ctx, kind+"/", func(name string, _ int64) error { return fn(name) })
}

// IsMissing reports whether a Get failed because the artifact is absent (as opposed to
// the bucket being unreachable: then the caller makes it, but does not count on putting it).
func IsMissing(err error) bool { return errors.Is(err, store.ErrNotFound) }
