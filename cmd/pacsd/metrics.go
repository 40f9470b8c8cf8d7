package main

import (
	"fmt"
	"net/http"

	"pacsd/audit"
	"pacsd/dicomweb"
	"pacsd/store"
	"pacsd/thumbnail"
)

// writeMetrics answers /metrics in the Prometheus text format (version 0.0.4): the
// write-back spool's counters and the background work after ingest (thumbnails, metadata).
// Written by hand: a handful of numbers do not need a client library.
func writeMetrics(w http.ResponseWriter, a *store.Archive, thumbs *thumbnail.Service, web *dicomweb.Service, trail *auditTrail) error {
	s := a.SpoolStats()
	var ts thumbnail.Stats
	if thumbs != nil {
		ts = thumbs.Stats()
	}
	var ws dicomweb.WarmStats
	if web != nil {
		ws = web.Stats()
	}
	var as audit.Stats
	var ss audit.SyslogStats
	if trail != nil {
		as = trail.rec.Stats()
		if trail.syslog != nil {
			ss = trail.syslog.Stats()
		}
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
		{"pacsd_thumbnails_fetched_total", "counter", "Thumbnails another cluster node made, got from the bucket.", float64(ts.Fetched)},
		{"pacsd_thumbnail_failures_total", "counter", "Images whose thumbnail could not be made.", float64(ts.Failed)},
		{"pacsd_metadata_queued", "gauge", "New objects waiting for their WADO-RS metadata record.", float64(ws.Queued)},
		{"pacsd_metadata_series_queued", "gauge", "Series to go through for metadata records, left by new objects that found the queue full (a bulk load).", float64(ws.SeriesQueued)},
		{"pacsd_metadata_warmed_total", "counter", "WADO-RS metadata records built after ingest.", float64(ws.Warmed)},
		{"pacsd_metadata_made_total", "counter", "WADO-RS metadata records built from objects (after ingest or on first request).", float64(ws.Built)},
		{"pacsd_metadata_fetched_total", "counter", "WADO-RS metadata records another cluster node built, got from the bucket.", float64(ws.Fetched)},
		{"pacsd_audit_recorded_total", "counter", "Audit events recorded.", float64(as.Recorded)},
		{"pacsd_audit_written_total", "counter", "Audit events the index has kept.", float64(as.Written)},
		{"pacsd_audit_direct_total", "counter", "Audit events their request wrote itself (the queue was full).", float64(as.Direct)},
		{"pacsd_audit_retries_total", "counter", "Failed audit writes retried.", float64(as.Retries)},
		{"pacsd_audit_lost_total", "counter", "Audit events the index refused after retries (each logged).", float64(as.Lost)},
		{"pacsd_audit_queued", "gauge", "Audit events waiting to be written.", float64(as.Queued)},
		{"pacsd_audit_syslog_sent_total", "counter", "Audit messages sent to the --audit-syslog collector.", float64(ss.Sent)},
		{"pacsd_audit_syslog_dropped_total", "counter", "Audit messages not sent to the collector (its queue was full, or left at shutdown); the index has them.", float64(ss.Dropped)},
		{"pacsd_audit_syslog_failures_total", "counter", "Failed connections and writes to the collector.", float64(ss.Failures)},
		{"pacsd_audit_syslog_queued", "gauge", "Audit messages waiting for the collector.", float64(ss.Queued)},
	} {
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", m.name, m.help, m.name, m.typ, m.name, m.v); err != nil {
			return err
		}
	}
	return nil
}
