package pixel

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"pacsd/dicom"
)

// Pixel budgets. A header is a few bytes that can declare a gigabyte-sized frame (a 16 MB
// RLE object may claim 23170 x 23170 16-bit pixels), so decoding is bounded twice before
// anything frame-sized is allocated: one frame may not exceed MaxFramePixels, and all
// decodes at once may not hold more than DecodeMemory bytes. A decode that would take the
// budget past its size waits its turn (first come, first served) for as long as its
// context allows; one that could never fit is refused with ErrTooLarge.

const (
	// DefaultMaxFramePixels is 8192 x 8192. The largest images a county hub receives are
	// DR plates (43 x 43 cm at 100 um: 4300 x 4300, 18.5 MP), mammography (up to about
	// 4800 x 6000, 29 MP) and stitched long-length spine and leg views (about 3000 x 12000,
	// 36 MP); whole-slide pathology is not this hub's business.
	DefaultMaxFramePixels = 8192 * 8192
	// DefaultDecodeMemory is what all decodes may hold at once: four 18 MP 16-bit DR
	// frames with their codestreams, or one frame of the largest size with its codec's
	// working memory.
	DefaultDecodeMemory = 512 << 20
)

// Limits configures a Budget. Zero fields take the defaults.
type Limits struct {
	// MaxFramePixels bounds Rows x Columns of a frame that is decoded at full resolution
	// (a JPEG 2000 frame reduced for display counts at its reduced size).
	MaxFramePixels int64
	// DecodeMemory bounds the bytes that all decodes through the Budget hold at once: the
	// codestream read, the decoded samples and the codec's working memory.
	DecodeMemory int64
}

// Budget enforces Limits on every Image opened through it and every transcode run by it.
// A server makes one and shares it between all its users of the package, so that
// thumbnails, rendering and transcoding queue for the same memory. A nil *Budget is the
// package's default budget, which Open and the Transcode functions use.
type Budget struct {
	maxPixels int64
	size      int64
	sem       *semaphore.Weighted

	held    atomic.Int64 // bytes acquired now
	waiting atomic.Int64 // decodes queued for memory now
	// acquired, when set (tests), is called with the bytes just acquired, before the
	// decode allocates them.
	acquired func(n int64)
}

// NewBudget returns a budget with the given limits.
func NewBudget(l Limits) *Budget {
	if l.MaxFramePixels <= 0 {
		l.MaxFramePixels = DefaultMaxFramePixels
	}
	if l.DecodeMemory <= 0 {
		l.DecodeMemory = DefaultDecodeMemory
	}
	return &Budget{maxPixels: l.MaxFramePixels, size: l.DecodeMemory, sem: semaphore.NewWeighted(l.DecodeMemory)}
}

var defaultBudget = NewBudget(Limits{})

func (b *Budget) orDefault() *Budget {
	if b == nil {
		return defaultBudget
	}
	return b
}

// Limits returns the budget's limits, defaults filled in.
func (b *Budget) Limits() Limits {
	b = b.orDefault()
	return Limits{MaxFramePixels: b.maxPixels, DecodeMemory: b.size}
}

// Open is the package's Open for an Image whose decodes this budget bounds.
func (b *Budget) Open(r io.ReaderAt, size int64, hdr *dicom.Header) (*Image, error) {
	im, err := open(r, size, hdr)
	if err != nil {
		return nil, err
	}
	im.budget = b.orDefault()
	return im, nil
}

// TranscodeExplicitLE is the package's TranscodeExplicitLE with this budget: frames are
// decoded one at a time, each within the budget.
func (b *Budget) TranscodeExplicitLE(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, hdr *dicom.Header) error {
	if err := transcode(ctx, w, r, size, hdr, 0, b.orDefault()); err != nil {
		return fmt.Errorf("transcode to explicit VR little endian: %w", err)
	}
	return nil
}

// TranscodeJPEGBaseline is the package's TranscodeJPEGBaseline with this budget.
func (b *Budget) TranscodeJPEGBaseline(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, hdr *dicom.Header, quality int) error {
	if quality == 0 {
		quality = 90
	}
	if quality < 1 || quality > 100 {
		return fmt.Errorf("transcode to JPEG baseline: quality %d out of 1-100", quality)
	}
	if err := transcode(ctx, w, r, size, hdr, quality, b.orDefault()); err != nil {
		return fmt.Errorf("transcode to JPEG baseline: %w", err)
	}
	return nil
}

// checkPixels refuses a frame of cols x rows pixels beyond the limit.
func (b *Budget) checkPixels(cols, rows int) error {
	if n := int64(cols) * int64(rows); n > b.maxPixels {
		return fmt.Errorf("%w: a frame of %d x %d pixels (%.1f megapixels) exceeds the limit of %.1f megapixels",
			ErrTooLarge, cols, rows, float64(n)/1e6, float64(b.maxPixels)/1e6)
	}
	return nil
}

// acquire waits until n bytes fit the budget and takes them; the returned func gives them
// back (once). A cancelled context leaves the queue with its error; n beyond the whole
// budget is refused at once rather than waiting forever.
func (b *Budget) acquire(ctx context.Context, n int64) (func(), error) {
	if n > b.size {
		return nil, fmt.Errorf("%w: decoding needs %d MB, more than the decode memory of %d MB", ErrTooLarge, n>>20, b.size>>20)
	}
	n = max(n, 1)
	if !b.sem.TryAcquire(n) {
		b.waiting.Add(1)
		err := b.sem.Acquire(ctx, n)
		b.waiting.Add(-1)
		if err != nil {
			return nil, err
		}
	}
	b.held.Add(n)
	if b.acquired != nil {
		b.acquired(n)
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			b.held.Add(-n)
			b.sem.Release(n)
		}
	}, nil
}

// decodeCost is the memory decoding one frame takes: the codestream (raw bytes), the
// decoded samples of cols x rows pixels and the codec's working memory, which is its own
// planes (JPEG keeps 16-bit component planes and, progressive, 16-bit coefficients;
// OpenJPEG 32-bit samples; RLE one byte plane).
func (im *Image) decodeCost(raw int64, cols, rows int) int64 {
	in := im.info
	samples := int64(cols) * int64(rows) * int64(in.SamplesPerPixel)
	decoded := samples * int64(in.bytesPerSample())
	switch {
	case nativeLayout(im.ts):
		if in.SamplesPerPixel == 1 || (in.PlanarConfiguration == 0 && in.Photometric != YBRFull422 && in.Photometric != YBRPartial422) {
			return raw // the samples are the bytes read
		}
		return raw + decoded
	case codecs[im.ts.UID] == codecRLE:
		return raw + decoded + int64(cols)*int64(rows)
	case codecs[im.ts.UID] == codecJPEG, codecs[im.ts.UID] == codecJ2K:
		return raw + decoded + 4*samples
	default:
		return raw + decoded
	}
}
