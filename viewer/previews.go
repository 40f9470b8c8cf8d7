package viewer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"pacsd/dicom"
	"pacsd/internal/backlog"
	"pacsd/store"
)

// Previews made as images arrive. The first thing a radiologist waits for on opening a
// study is the quick first look (framePixels with ?preview=1): made on demand, it costs a
// decode of the whole frame and a reduction, about 80 ms of a 3000x3000 DR on one core,
// more while the page's other requests and the browser share the cores. A study is opened
// minutes or hours after it arrived, so each large greyscale image's preview is made in
// the background as it is stored and kept in the frame cache (Config.FrameCacheBytes, the
// most recent first out when full), yielding to ingest like the other after-ingest work
// (internal/backlog). A preview evicted or never made is made on demand as before. Only the
// newest are worth making: past previewQueueLen waiting (a bulk load of old studies, whose
// previews would only push each other out of the cache) new objects are not queued, rather
// than left to their series as the metadata warmer does.

const (
	previewQueueLen = 128
	previewMaxWait  = 5 * time.Second
)

// pixelsKey names a prepared frame in the frame cache: the object's version (its content
// hash) and frame, and the side it was reduced to (0: full resolution).
func pixelsKey(in *store.Instance, n, side int) string {
	return fmt.Sprintf("p/%s/%s/%d/%d", in.SOPInstanceUID, in.SHA256, n, side)
}

// wantsPreview says whether a stored object is a greyscale single-frame image larger than
// the preview, which the viewer opens by its preview first.
func wantsPreview(in *store.Instance) bool {
	if !store.HasPixelData(in) {
		return false
	}
	a := in.InstanceAttrs
	frames, _ := a.Int(dicom.TagNumberOfFrames)
	spp, _ := a.Int(dicom.TagSamplesPerPixel)
	rows, _ := a.Int(dicom.TagRows)
	cols, _ := a.Int(dicom.TagColumns)
	return frames <= 1 && spp <= 1 && strings.HasPrefix(a.String(dicom.TagPhotometricInterpretation), "MONOCHROME") &&
		max(rows, cols) > previewSide
}

// startPreviews runs the preview worker until ctx ends (Start; Close waits for it).
func (v *Viewer) startPreviews(ctx context.Context) {
	w := backlog.Worker{
		Index: v.cfg.Archive.Index(), Ingesting: v.cfg.Archive.Ingesting, MaxWait: previewMaxWait,
		Done: func(in *store.Instance) bool {
			_, cached := v.frames.Get(pixelsKey(in, 0, previewSide))
			return cached || !wantsPreview(in)
		},
		Do: v.makePreview,
		ListFailed: func(se backlog.Series, err error) {
			v.log.Warn("cannot list a series to make its previews; they are made on first look", "series_instance_uid", se.SeriesUID, "err", err)
		},
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		v.previews.Run(ctx, w)
	}()
}

// queuePreview is the archive's OnStored hook: it only queues (it runs on the Put's
// goroutine).
func (v *Viewer) queuePreview(in *store.Instance) {
	if wantsPreview(in) && v.previews.Stats().Instances < previewQueueLen {
		v.previews.Add(in)
	}
}

// makePreview prepares one object's preview into the frame cache.
func (v *Viewer) makePreview(ctx context.Context, in *store.Instance) {
	key := pixelsKey(in, 0, previewSide)
	if _, ok := v.frames.Get(key); ok {
		return
	}
	e, err := v.preparePixels(ctx, in.SOPInstanceUID, 0, previewSide)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) {
			v.log.Info("no preview made in the background; it is made on first look", "sop_instance_uid", in.SOPInstanceUID, "err", err)
		}
		return
	}
	v.frames.Add(key, e, e.size())
}
