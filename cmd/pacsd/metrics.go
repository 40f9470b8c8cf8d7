package main

import (
	"fmt"
	"net/http"

	"pacsd/dicomweb"
	"pacsd/store"
	"pacsd/thumbnail"
)

// writeMetrics answers /metrics in the Prometheus text format (version 0.0.4): the
// write-back spool's counters and the background work after ingest (thumbnails, metadata).
// Written by hand: a handful of numbers do not need a client library.
func writeMetrics(w http.ResponseWriter, a *store.Archive, thumbs *thumbnail.Service, web *dicomweb.Service) error {
	s := a.SpoolStats()
	var ts thumbnail.Stats
	if thumbs != nil {
		ts = thumbs.Stats()
	}
	var ws dicomweb.WarmStats
	if web != nil {
		ws = web.Stats()
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	down := 0.0
	if !s.RemoteDownSince.IsZero() {
		down = float64(s.RemoteDownSince.Unix())
	}
	for _, m := range []struct {
		name, typ, help string
		v               float64
	}{
		{"pacsd_spool_pending_objects", "gauge", "Objects received and indexed, not yet uploaded to S3.", float64(s.PendingObjects)},
		{"pacsd_spool_pending_bytes", "gauge", "Bytes received and indexed, not yet uploaded to S3.", float64(s.PendingBytes)},
		{"pacsd_spool_limited_bytes", "gauge", "Pending bytes counted against --spool-max-mb.", float64(s.SpoolBytes)},
		{"pacsd_local_bytes", "gauge", "Bytes of objects kept on local disk (pending and cached).", float64(s.LocalBytes)},
		{"pacsd_upload_objects_total", "counter", "Objects uploaded to S3 and verified.", float64(s.UploadedObjects)},
		{"pacsd_upload_bytes_total", "counter", "Bytes uploaded to S3 and verified.", float64(s.UploadedBytes)},
		{"pacsd_upload_failures_total", "counter", "Failed upload attempts (each is retried).", float64(s.UploadFailures)},
		{"pacsd_upload_rate_bytes_per_second", "gauge", "Upload rate over the last minute.", s.UploadRate},
		{"pacsd_evicted_objects_total", "counter", "Local copies evicted after upload.", float64(s.EvictedObjects)},
		{"pacsd_evicted_bytes_total", "counter", "Bytes of local copies evicted after upload.", float64(s.EvictedBytes)},
		{"pacsd_remote_down_since_seconds", "gauge", "Unix time of the first failure of the current run of upload failures; 0 when uploads succeed.", down},
		{"pacsd_thumbnails_queued", "gauge", "New images waiting for their background thumbnail.", float64(ts.Queued)},
		{"pacsd_thumbnails_series_queued", "gauge", "Series to go through for thumbnails, left by new images that found the queue full (a bulk load).", float64(ts.SeriesQueued)},
		{"pacsd_thumbnails_made_total", "counter", "Thumbnails made (in the background or on demand).", float64(ts.Made)},
		{"pacsd_thumbnail_failures_total", "counter", "Images whose thumbnail could not be made.", float64(ts.Failed)},
		{"pacsd_metadata_queued", "gauge", "New objects waiting for their WADO-RS metadata record.", float64(ws.Queued)},
		{"pacsd_metadata_series_queued", "gauge", "Series to go through for metadata records, left by new objects that found the queue full (a bulk load).", float64(ws.SeriesQueued)},
		{"pacsd_metadata_warmed_total", "counter", "WADO-RS metadata records built after ingest.", float64(ws.Warmed)},
	} {
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", m.name, m.help, m.name, m.typ, m.name, m.v); err != nil {
			return err
		}
	}
	return nil
}
