// Package thumbnail keeps a representative thumbnail for every stored image: one JPEG per
// instance (its middle frame), made in the background after ingest by a few workers that
// yield to ingest, cached on disk, and made on demand when missing. A series is shown by
// its middle image instance, a study by its first series that has images.
//
// It is not a renderer (dicom/pixel is) and not an HTTP handler (dicomweb and viewer serve
// what it returns).
package thumbnail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/internal/backlog"
	"pacsd/internal/flight"
	"pacsd/store"
	"pacsd/store/derived"
)

// ErrNoImage: the instance (or every instance of the series or study) has no pixel data,
// as for a structured report or an encapsulated PDF.
var ErrNoImage = errors.New("no image to show")

// Config tunes the service.
type Config struct {
	Dir     string // cache folder, created when missing
	Size    int    // longest side in pixels; 0 means 256
	Quality int    // JPEG quality; 0 means 85
	Workers int    // background workers; 0 means 1 (ingest comes first)
	// MaxWait bounds how long a background thumbnail waits for ingest to pause; 0 = 30 s.
	MaxWait time.Duration
	// QueueLen is how many new instances wait as they are; past it, during a bulk load,
	// their series wait instead (internal/backlog). 0 means 4096.
	QueueLen int
	Logger   *slog.Logger
	// Pixels bounds decoding (frame size, memory of all decodes at once), shared with the
	// server's other users of dicom/pixel. nil: the package's default budget.
	Pixels *pixel.Budget
	// Shared is where the nodes of a cluster share their thumbnails (store/derived): one
	// made here is put there too, and a local miss is looked for there before one is made.
	// nil: a single node, the local cache only.
	Shared derived.Store
}

// Stats count the service's work since start.
type Stats struct {
	Made, Failed, Served int64
	Fetched              int64 // got from Config.Shared (another node made them)
	Overflowed           int64 // instances that found the queue full and were left to their series
	Queued               int64 // instances waiting for a background thumbnail now
	SeriesQueued         int64 // series waiting to be gone through (internal/backlog)
}

// Service makes and caches thumbnails.
type Service struct {
	a   *store.Archive
	cfg Config
	log *slog.Logger

	queue  *backlog.Queue
	cancel context.CancelFunc
	wg     sync.WaitGroup

	flights flight.Group[[]byte] // by cache path: one render per thumbnail at a time

	made, failed, served, fetched atomic.Int64
}

// New builds a service over a; Start runs its background workers.
func New(a *store.Archive, cfg Config) (*Service, error) {
	if cfg.Dir == "" {
		return nil, errors.New("thumbnail: Dir is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("thumbnail: %w", err)
	}
	if cfg.Size <= 0 {
		cfg.Size = 256
	}
	if cfg.Quality <= 0 {
		cfg.Quality = 85
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 30 * time.Second
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 4096
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		a: a, cfg: cfg, log: log.With("component", "thumbnail"),
		queue: backlog.New(cfg.QueueLen),
	}, nil
}

// Start subscribes to the archive's new objects and runs the workers until Close.
func (s *Service) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.a.OnStored(s.Add)
	w := backlog.Worker{
		Index: s.a.Index(), Ingesting: s.a.Ingesting, MaxWait: s.cfg.MaxWait,
		Done: func(in *store.Instance) bool {
			if !store.HasPixelData(in) {
				return true
			}
			_, err := os.Stat(s.path(in))
			return err == nil // made already
		},
		Do: s.background,
		ListFailed: func(se backlog.Series, err error) {
			s.log.Warn("cannot list a series for its thumbnails; they are made on demand", "series_instance_uid", se.SeriesUID, "err", err)
		},
	}
	for range s.cfg.Workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.queue.Run(ctx, w)
		}()
	}
}

// Close stops the workers; thumbnails not yet made are made on demand later.
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	q := s.queue.Stats()
	return Stats{Made: s.made.Load(), Failed: s.failed.Load(), Served: s.served.Load(), Fetched: s.fetched.Load(),
		Overflowed: q.Overflowed, Queued: int64(q.Instances), SeriesQueued: int64(q.Series)}
}

// Add queues a newly stored instance for its background thumbnail; Start has the archive
// call it after every Put. It never blocks the Put: past Config.QueueLen waiting, the
// instance's series is kept instead, so nothing is left to be made on demand.
func (s *Service) Add(in *store.Instance) { s.queue.Add(in) }

// background makes one thumbnail (backlog.Run has waited for ingest to pause: a study
// arriving is worth more than its thumbnails).
func (s *Service) background(ctx context.Context, in *store.Instance) {
	_, err := s.ofInstance(ctx, in, true)
	switch {
	case err == nil || errors.Is(err, ErrNoImage) || ctx.Err() != nil:
	case errors.Is(err, pixel.ErrUnsupported), errors.Is(err, pixel.ErrTooLarge):
		// A video clip, an encoding pacsd keeps but does not decode, or a frame beyond the
		// decoding limits: the instance simply has no thumbnail; not a fault.
		s.log.Debug("no thumbnail: pixel data not decoded", "sop_instance_uid", in.SOPInstanceUID, "err", err)
	default:
		s.log.Warn("cannot make thumbnail", "sop_instance_uid", in.SOPInstanceUID, "err", err)
	}
}

// Instance returns the JPEG thumbnail of one instance, making it if needed.
func (s *Service) Instance(ctx context.Context, sopInstanceUID string) ([]byte, error) {
	in, err := s.a.Index().Instance(ctx, sopInstanceUID)
	if err != nil {
		return nil, fmt.Errorf("thumbnail %s: %w", sopInstanceUID, err)
	}
	return s.ofInstance(ctx, in, false)
}

// Series returns the thumbnail of the series' middle image instance.
func (s *Service) Series(ctx context.Context, studyUID, seriesUID string) ([]byte, error) {
	list, err := s.a.Index().Instances(ctx, studyUID, seriesUID)
	if err != nil {
		return nil, fmt.Errorf("thumbnail of series %s: %w", seriesUID, err)
	}
	return s.first(ctx, list, "series "+seriesUID)
}

// Study returns the thumbnail of the first series (in series order) that has an image.
func (s *Service) Study(ctx context.Context, studyUID string) ([]byte, error) {
	list, err := s.a.Index().Instances(ctx, studyUID, "")
	if err != nil {
		return nil, fmt.Errorf("thumbnail of study %s: %w", studyUID, err)
	}
	return s.first(ctx, list, "study "+studyUID)
}

func (s *Service) first(ctx context.Context, list []*store.Instance, what string) ([]byte, error) {
	// An image pacsd keeps but cannot show (a video clip, a codec or layout dicom/pixel
	// refuses) must not hide the images beside it: the next candidate is tried, up to
	// maxFailed of them, and the first such error is reported when none could be shown.
	const maxFailed = 8
	var firstErr error
	failed := 0
	for _, in := range Candidates(list) {
		if !store.HasPixelData(in) || !pixel.Decodes(in.TransferSyntaxUID) {
			continue
		}
		b, err := s.ofInstance(ctx, in, false)
		switch {
		case err == nil:
			return b, nil
		case errors.Is(err, ErrNoImage):
			continue
		case errors.Is(err, pixel.ErrUnsupported) || errors.Is(err, pixel.ErrCorrupt) || errors.Is(err, pixel.ErrTooLarge):
			if firstErr == nil {
				firstErr = err
			}
			if failed++; failed >= maxFailed {
				return nil, firstErr
			}
		default:
			return nil, err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, fmt.Errorf("thumbnail of %s: %w", what, ErrNoImage)
}

// Candidates orders the instances of a study or series (as Index.Instances lists them) the
// way a representative image is looked for: series by series, and in each the middle
// instance first, then outward. The middle of a stack is its most typical image, and a
// report or document in the series is passed over by the caller's image test.
func Candidates(list []*store.Instance) []*store.Instance {
	out := make([]*store.Instance, 0, len(list))
	for len(list) > 0 {
		n := 1
		for n < len(list) && list[n].SeriesInstanceUID == list[0].SeriesInstanceUID {
			n++
		}
		group, mid := list[:n], n/2
		out = append(out, group[mid])
		for d := 1; d <= n; d++ {
			for _, i := range []int{mid - d, mid + d} {
				if i >= 0 && i < n {
					out = append(out, group[i])
				}
			}
		}
		list = list[n:]
	}
	return out
}

// path is where the thumbnail of in is cached: by SOP Instance UID and content, so a
// replaced instance gets a new thumbnail.
func (s *Service) path(in *store.Instance) string {
	h := sha256.Sum256([]byte(in.SOPInstanceUID))
	sum := in.SHA256
	if len(sum) > 16 {
		sum = sum[:16]
	}
	return filepath.Join(s.cfg.Dir, hex.EncodeToString(h[:1]), in.SOPInstanceUID+"."+sum+".jpg")
}

// ofInstance returns in's thumbnail, from the local cache or made (fill). stored says the
// caller is the work after this node stored in (background).
func (s *Service) ofInstance(ctx context.Context, in *store.Instance, stored bool) ([]byte, error) {
	if !store.HasPixelData(in) {
		return nil, fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, ErrNoImage)
	}
	p := s.path(in)
	if b, err := os.ReadFile(p); err == nil {
		s.served.Add(1)
		return b, nil
	}
	b, _, err := s.flights.Do(ctx, p, func() ([]byte, error) { return s.fill(ctx, in, p, stored) })
	if err != nil {
		return nil, err
	}
	s.served.Add(1)
	return b, nil
}

// sharedKey names the thumbnail of in in Config.Shared: by SOP Instance UID and content,
// as the local cache does.
func sharedKey(in *store.Instance) string {
	return derived.Key("thumbnails", in.SOPInstanceUID, in.SHA256, "jpg")
}

// fill makes the missing cache file dst: from Config.Shared when another node made the
// thumbnail, otherwise rendered here (and put in Config.Shared for the other nodes). After
// this node stored in, the bucket is not asked first: the key names this content, which no
// other node can have thumbnailed before it was stored (an overflowed series listed from
// the index may hold another node's instances: those are then made twice at most, as when
// two nodes miss at once).
func (s *Service) fill(ctx context.Context, in *store.Instance, dst string, stored bool) ([]byte, error) {
	if s.cfg.Shared != nil && !stored {
		b, err := s.cfg.Shared.Get(ctx, sharedKey(in))
		switch {
		case err == nil:
			s.fetched.Add(1)
			return b, s.writeLocal(in, dst, b)
		case !derived.IsMissing(err):
			// The bucket is unreachable: the thumbnail is made here rather than not shown.
			s.log.Warn("cannot get a shared thumbnail; making it here", "sop_instance_uid", in.SOPInstanceUID, "err", err)
		}
	}
	b, err := s.make(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.writeLocal(in, dst, b); err != nil {
		return nil, err
	}
	if s.cfg.Shared != nil {
		// Another node missing at the same moment puts the same bytes: at most twice made.
		if err := s.cfg.Shared.Put(ctx, sharedKey(in), b); err != nil {
			s.log.Warn("cannot share a thumbnail; other nodes make their own", "sop_instance_uid", in.SOPInstanceUID, "err", err)
		}
	}
	return b, nil
}

// make renders the middle frame, fitted to Size, as a JPEG.
func (s *Service) make(ctx context.Context, in *store.Instance) ([]byte, error) {
	_, rc, err := s.a.Open(ctx, in.SOPInstanceUID)
	if err != nil {
		return nil, fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, err)
	}
	defer rc.Close()
	ra, ok := rc.(io.ReaderAt)
	if !ok {
		return nil, fmt.Errorf("thumbnail %s: the blob store gives no random access", in.SOPInstanceUID)
	}
	hdr, err := dicom.ReadPart10(bufio.NewReaderSize(rc, 64<<10), dicom.ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("thumbnail %s: read header: %w", in.SOPInstanceUID, err)
	}
	if hdr.PixelDataOffset < 0 {
		return nil, fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, ErrNoImage)
	}
	im, err := s.cfg.Pixels.Open(ra, in.Size, hdr)
	if err != nil {
		s.failed.Add(1)
		return nil, fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, err)
	}
	fr, err := im.FrameFit(ctx, im.NumFrames()/2, s.cfg.Size, s.cfg.Size)
	if err != nil {
		s.failed.Add(1)
		return nil, fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, err)
	}
	img, err := pixel.Render(fr, im.Info(), pixel.RenderOptions{Width: s.cfg.Size, Height: s.cfg.Size})
	if err != nil {
		s.failed.Add(1)
		return nil, fmt.Errorf("thumbnail %s: render: %w", in.SOPInstanceUID, err)
	}
	var buf bytes.Buffer
	if err := pixel.EncodeJPEG(&buf, img, s.cfg.Quality); err != nil {
		return nil, fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, err)
	}
	s.made.Add(1)
	return buf.Bytes(), nil
}

// writeLocal writes the cache file dst atomically. A cache, not an archive: no fsync. A
// torn file after a crash would be served as a broken JPEG, so write aside and rename.
func (s *Service) writeLocal(in *store.Instance, dst string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("thumbnail %s: %w", in.SOPInstanceUID, err)
	}
	return nil
}
