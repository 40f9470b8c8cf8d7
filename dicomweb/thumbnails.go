package dicomweb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of the thumbnail service's JPEGs
	"net/http"

	"github.com/labstack/echo/v4"

	"pacsd/dicom/pixel"
	"pacsd/store"
	"pacsd/thumbnail"
)

// Thumbnail resources (PS3.18 10.4.1.1.4, added by Supplement 203): a single image
// representative of a study, series, instance or frames, in a Rendered Media Type, whose
// pixel content the origin server chooses. pacsd's choice is the thumbnail service's
// (package thumbnail): an instance is shown by its middle frame, a series by its middle
// image instance (then the ones around it), a study by the first series, in series order,
// that has an image. The default is the service's cached JPEG (256 pixels on the longest
// side unless configured otherwise); viewport=vw,vh, image/png, or a frame resource are
// rendered on demand from the same pixels through the frame cache.
//
// A study, series or instance without an image (a report, a PDF) has no thumbnail: 404,
// with a message saying so. The resource names content the server does not hold, which is
// what 404 says (PS3.18 8.5); 406 would tell the client to ask for another media type,
// which would not help.
//
// Thumbnails are small: the ETag is a digest of the bytes sent (strong: the bytes are the
// same every time). Instance and frame thumbnails may be reused for an hour; a series' or
// study's may change as instances arrive and is revalidated each time.

const (
	defaultThumbnailSize    = 256 // thumbnail.Config.Size's default
	defaultThumbnailQuality = 85  // thumbnail.Config.Quality's default
)

// thumbnailFor serves the thumbnail resources for GET and HEAD.
func (s *server) thumbnailFor(level renderLevel) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		study, series, sop, err := pathUIDs(c)
		if err != nil {
			return s.publicError(c, "thumbnail", err)
		}
		p, err := parseRenderParams(c.QueryParams(), true)
		if err != nil {
			return s.publicError(c, "thumbnail", err)
		}
		choice, err := negotiateRendered(acceptRanges(c), true, false)
		if err != nil {
			return s.publicError(c, "thumbnail", err)
		}
		var (
			rec   *store.Instance
			frame = -1 // 0-based; -1: the service's choice (the middle frame)
		)
		switch level {
		case renderStudy:
			rec, err = s.representative(ctx, study, "")
		case renderSeries:
			rec, err = s.representative(ctx, study, series)
		default:
			if rec, err = s.lookupInstance(ctx, study, series, sop); err == nil && !store.HasPixelData(rec) {
				err = fmt.Errorf("instance %s: %w", sop, thumbnail.ErrNoImage)
			}
		}
		if err != nil {
			return s.publicError(c, "thumbnail", err)
		}
		cols, rows, n := indexGeometry(rec)
		if level == renderFrames {
			nums, err := parseFrameList(c.Param(paramFrames))
			if err != nil {
				return s.publicError(c, "thumbnail", err)
			}
			if nums[0] > n {
				return s.publicError(c, "thumbnail", echo.NewHTTPError(http.StatusNotFound,
					fmt.Sprintf("frame %d does not exist: the instance has %d frame(s)", nums[0], n)))
			}
			frame = nums[0] - 1 // the first frame named represents the list
		}
		body, err := s.thumbnailBytes(ctx, rec, frame, cols, rows, p, choice.media)
		if err != nil {
			if errors.Is(err, errFrameRange) {
				err = echo.NewHTTPError(http.StatusNotFound, "the frame does not exist")
			}
			return s.publicError(c, "thumbnail", err)
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		cc := cacheInstance
		if level == renderStudy || level == renderSeries {
			cc = cacheCollection
		}
		if notModified(c, etag, cc) {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, choice.media, body)
	}
}

// thumbnailBytes returns the thumbnail of rec: the service's cached JPEG when it is what
// was asked for, else rendered now. frame is 0-based, or -1 for the middle frame.
func (s *server) thumbnailBytes(ctx context.Context, rec *store.Instance, frame, cols, rows int, p renderParams, media string) ([]byte, error) {
	if frame < 0 && media == mediaJPEG && s.thumbs != nil {
		b, err := s.thumbs.Instance(ctx, rec.SOPInstanceUID)
		if err != nil {
			return nil, err
		}
		if p.vw == 0 && p.vh == 0 {
			return b, nil
		}
		// A viewport the cached image already fits exactly (the default size, or one a
		// viewer computed from it) is served from the cache too.
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(b)); err == nil {
			if w, h := fitWithin(cols, rows, p.vw, p.vh); w == cfg.Width && h == cfg.Height {
				return b, nil
			}
		}
	}
	_, _, n := indexGeometry(rec)
	if frame < 0 {
		frame = n / 2
	}
	if p.vw == 0 && p.vh == 0 {
		p.vw, p.vh = defaultThumbnailSize, defaultThumbnailSize
	}
	p.quality = defaultThumbnailQuality
	return s.renderFrame(ctx, rec, frame, p, media)
}

// fitWithin is the size pixel.Render gives a cols x rows image fitted within maxW x maxH
// (scaled down keeping the aspect ratio, never up).
func fitWithin(cols, rows, maxW, maxH int) (int, int) {
	s := 1.0
	if maxW > 0 && maxW < cols {
		s = float64(maxW) / float64(cols)
	}
	if maxH > 0 && maxH < rows {
		s = min(s, float64(maxH)/float64(rows))
	}
	if s >= 1 {
		return cols, rows
	}
	return max(1, int(float64(cols)*s+0.5)), max(1, int(float64(rows)*s+0.5))
}

// representative picks the instance that shows a series (its middle image instance, then
// the others outward) or a study (the first series, in series order, with an image): the
// same choice as thumbnail.Service's Series and Study. Only the chosen instances' records
// are read from the index.
func (s *server) representative(ctx context.Context, study, series string) (*store.Instance, error) {
	list, err := s.versions(ctx, study, series)
	if err != nil {
		return nil, err
	}
	// The listing carries UIDs only: each candidate's record says whether it is an image.
	var fallback *store.Instance
	for _, c := range thumbnail.Candidates(list) {
		rec, err := s.archive.Index().Instance(ctx, c.SOPInstanceUID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if !store.HasPixelData(rec) {
			continue
		}
		// A video clip or an image in a syntax pacsd keeps but does not decode stands for
		// its series only when nothing else can.
		if pixel.Decodes(rec.TransferSyntaxUID) {
			return rec, nil
		}
		if fallback == nil {
			fallback = rec
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	what := "study " + study
	if series != "" {
		what = "series " + series
	}
	return nil, fmt.Errorf("%s: %w", what, thumbnail.ErrNoImage)
}
