package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// object reads one stored object with ranged GETs. Read streams from the current offset
// over one open response; Seek only moves the offset (the response is dropped when the
// offset really changes); ReadAt fetches exactly the requested bytes and may be called
// concurrently with itself. Every GET carries If-Match with the ETag seen at Open.
//
// We do not use minio.Object: it starts a goroutine per open object, turns every Read
// into a channel round trip, and has no way to ask for a bounded range on Read.
type object struct {
	b    *Blobs
	ctx  context.Context
	key  string
	name string
	size int64
	etag string

	off    int64         // offset of the next Read
	body   io.ReadCloser // open response positioned at off, or nil
	closed bool
}

var errClosed = errors.New("read of a closed blob")

func (o *object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, errClosed
	}
	if o.off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		body, err := o.get(o.off, -1)
		if err != nil {
			return 0, err
		}
		o.body = body
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if err == io.EOF {
		o.dropBody()
		if o.off < o.size {
			return n, fmt.Errorf("read blob %s: response ended at %d of %d bytes: %w", o.key, o.off, o.size, o.b.classify(o.ctx, io.ErrUnexpectedEOF))
		}
		return n, nil
	}
	if err != nil {
		o.dropBody()
		return n, fmt.Errorf("read blob %s at %d: %w", o.key, o.off, o.b.classify(o.ctx, err))
	}
	return n, nil
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, errClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.size + offset
	default:
		return 0, fmt.Errorf("seek blob %s: bad whence %d", o.key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek blob %s: negative offset %d", o.key, abs)
	}
	if abs != o.off {
		// Closing an unfinished response costs its connection; reading on to a nearby
		// offset could be cheaper, but frame reads jump far, and ReadAt serves them better.
		o.dropBody()
		o.off = abs
	}
	return abs, nil
}

// ReadAt reads len(p) bytes at off with one bounded GET; it does not move the Read offset.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if o.closed {
		return 0, errClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("read blob %s: negative offset %d", o.key, off)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := min(int64(len(p)), o.size-off)
	body, err := o.get(off, off+want-1)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:want])
	if err != nil {
		return n, fmt.Errorf("read blob %s at %d: %w", o.key, off, o.b.classify(o.ctx, err))
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// Size is the object's length in bytes (for io.SectionReader and Content-Length).
func (o *object) Size() int64 { return o.size }

func (o *object) Close() error {
	o.dropBody()
	o.closed = true
	return nil
}

func (o *object) dropBody() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}

// get starts a GET of bytes start..end (inclusive; end < 0: to the end of the object).
func (o *object) get(start, end int64) (io.ReadCloser, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetMatchETag(o.etag); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", o.key, err)
	}
	var err error
	switch {
	case end >= 0:
		err = opts.SetRange(start, end)
	case start > 0:
		err = opts.SetRange(start, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", o.key, err)
	}
	body, _, _, err := o.b.core.GetObject(o.ctx, o.b.bucket, o.name, opts)
	if err != nil {
		return nil, fmt.Errorf("read blob %s at %d: %w", o.key, start, o.b.classify(o.ctx, err))
	}
	return body, nil
}
