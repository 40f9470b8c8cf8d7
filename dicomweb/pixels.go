package dicomweb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/internal/flight"
	"pacsd/internal/lru"
	"pacsd/store"
)

// Pixel work for rendering, thumbnails and transcoding: opening a stored object for
// dicom/pixel, and the cache of decoded, screen-sized frames that makes a viewer's
// window/level drag cost one render per step (PS3.18 8.3.5.1.4 windowing on a frame the
// server already holds).

// imageHandle is one stored object version opened for pixel work. im is nil when the
// object has no Pixel Data.
type imageHandle struct {
	rec *store.Instance
	rc  io.ReadSeekCloser
	ra  io.ReaderAt
	hdr *dicom.Header
	im  *pixel.Image
	// pixels bounds decoding and transcoding the object.
	pixels *pixel.Budget
}

func (h *imageHandle) Close() error { return h.rc.Close() }

// openObject opens the current version of an instance and reads its header (up to Pixel
// Data); rec describes what was opened, which may be newer than what the caller listed.
func (s *server) openObject(ctx context.Context, sop string) (*imageHandle, error) {
	rec, rc, err := s.archive.Open(ctx, sop)
	if err != nil {
		return nil, fmt.Errorf("open instance %s: %w", sop, err)
	}
	h, err := s.handleFor(ctx, rec, rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return h, nil
}

// handleFor reads the header of an opened object; the handle's Close closes rc.
func (s *server) handleFor(ctx context.Context, rec *store.Instance, rc io.ReadSeekCloser) (*imageHandle, error) {
	if _, err := rc.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("instance %s: %w", rec.SOPInstanceUID, err)
	}
	hdr, err := dicom.ReadPart10(bufio.NewReaderSize(store.ContextReader(ctx, rc), 64<<10), dicom.ReadOptions{FallbackCharset: s.fallback})
	if err != nil {
		return nil, fmt.Errorf("instance %s: read header: %w", rec.SOPInstanceUID, err)
	}
	return &imageHandle{rec: rec, rc: rc, ra: readerAt(rc), hdr: hdr, pixels: s.pixels}, nil
}

// openImage is openObject for an image: the pixel data is located (no pixels are read).
func (s *server) openImage(ctx context.Context, sop string) (*imageHandle, error) {
	h, err := s.openObject(ctx, sop)
	if err != nil {
		return nil, err
	}
	if h.im, err = s.pixels.Open(h.ra, h.rec.Size, h.hdr); err != nil {
		h.Close()
		return nil, fmt.Errorf("instance %s: %w", sop, err)
	}
	return h, nil
}

// readerAt gives random access to a blob: the stores' readers (os.File, the S3 object)
// have it; anything else is read through Seek under a lock.
func readerAt(rs io.ReadSeeker) io.ReaderAt {
	if ra, ok := rs.(io.ReaderAt); ok {
		return ra
	}
	return &seekReaderAt{rs: rs}
}

type seekReaderAt struct {
	mu sync.Mutex
	rs io.ReadSeeker
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(s.rs, p)
}

// decodedFrame is a decoded frame with what Render needs to display it, and the size of
// the full-resolution image it was reduced from.
type decodedFrame struct {
	fr         *pixel.Frame
	info       pixel.Info
	cols, rows int // of the full-resolution frame
}

// cost is the memory the frame holds, for the cache's byte budget. Info's LUTs are shared
// between the frames of one object, but counted with each: the estimate errs high.
func (d *decodedFrame) cost() int64 {
	n := int64(len(d.fr.Data8)) + 2*int64(len(d.fr.Data16)) + 512
	for _, l := range []*pixel.LUT{d.info.ModalityLUT} {
		if l != nil {
			n += 2 * int64(len(l.Data))
		}
	}
	for _, l := range d.info.VOILUTs {
		n += 2 * int64(len(l.Data))
	}
	if p := d.info.Palette; p != nil {
		for _, l := range []*pixel.LUT{p.Red, p.Green, p.Blue} {
			if l != nil {
				n += 2 * int64(len(l.Data))
			}
		}
	}
	return n
}

// decodeFrame decodes frame i (0-based) of an opened image, reduced to fit within size x
// size (0: full resolution). Decoding is CPU-bound: at most decodeSlots run at once, so a
// burst of requests queues here instead of thrashing the machine's few cores.
func (s *server) decodeFrame(ctx context.Context, im *pixel.Image, i, size int) (*decodedFrame, error) {
	select {
	case s.decodeSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.decodeSlots }()
	var (
		fr  *pixel.Frame
		err error
	)
	if size > 0 {
		fr, err = im.FrameFit(ctx, i, size, size)
	} else {
		fr, err = im.Frame(ctx, i)
	}
	if err != nil {
		return nil, fmt.Errorf("decode frame %d: %w", i+1, err)
	}
	info := im.Info()
	return &decodedFrame{fr: fr, info: info, cols: info.Columns, rows: info.Rows}, nil
}

// frameCache keeps decoded frames, reduced to the size they are displayed at, keyed by
// object version (SOP Instance UID and content SHA-256), frame and decode size; bounded in
// bytes. Concurrent requests for the same frame share one decode.
type frameCache struct {
	mem     *lru.Cache[string, *decodedFrame]
	flights flight.Group[*decodedFrame]
}

func newFrameCache(maxBytes int64) *frameCache {
	return &frameCache{mem: newCache[*decodedFrame](maxBytes)}
}

func frameKey(sop, sha string, frame, size int) string {
	return sop + "." + sha + "/" + strconv.Itoa(frame) + "@" + strconv.Itoa(size)
}

// frame returns frame i (0-based) of the instance rec describes, decoded to fit size x
// size (0: full resolution), from the cache or decoded now.
func (s *server) frame(ctx context.Context, rec *store.Instance, i, size int) (*decodedFrame, error) {
	c := s.decoded
	key := frameKey(rec.SOPInstanceUID, rec.SHA256, i, size)
	for {
		if df, ok := c.mem.Get(key); ok {
			return df, nil
		}
		// The decode runs under the context of the request that starts it: a viewer that
		// has moved on (and cancelled) stops it, and a waiter then decodes for itself.
		df, ran, err := c.flights.Do(ctx, key, func() (*decodedFrame, error) {
			df, err := s.decodeCurrent(ctx, rec, i, size)
			if err == nil {
				c.mem.Add(key, df, df.cost())
			}
			return df, err
		})
		if !ran && err != nil && isContextErr(err) && ctx.Err() == nil {
			continue // the decoding request went away; this one still wants the frame
		}
		return df, err
	}
}

// decodeCurrent opens the instance and decodes one frame. If the instance was replaced
// since rec was read, the frame is not the one the key names: it is refused as unavailable
// for this request, and the next request reads the new version.
func (s *server) decodeCurrent(ctx context.Context, rec *store.Instance, i, size int) (*decodedFrame, error) {
	h, err := s.openImage(ctx, rec.SOPInstanceUID)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if h.rec.SHA256 != rec.SHA256 {
		return nil, fmt.Errorf("instance %s replaced while being read: %w", rec.SOPInstanceUID, store.ErrUnavailable)
	}
	if i >= h.im.NumFrames() {
		return nil, fmt.Errorf("frame %d of %d: %w", i+1, h.im.NumFrames(), errFrameRange)
	}
	df, err := s.decodeFrame(ctx, h.im, i, size)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", rec.SOPInstanceUID, err)
	}
	return df, nil
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// indexGeometry is what the index says about an instance's pixels: columns, rows and
// number of frames (0, 0, 0 for an object without an image).
func indexGeometry(rec *store.Instance) (cols, rows, frames int) {
	if !store.HasPixelData(rec) {
		return 0, 0, 0
	}
	c, _ := rec.InstanceAttrs.Int(dicom.TagColumns)
	r, _ := rec.InstanceAttrs.Int(dicom.TagRows)
	n, ok := rec.InstanceAttrs.Int(dicom.TagNumberOfFrames)
	if !ok || n < 1 {
		n = 1
	}
	return int(c), int(r), int(n)
}
