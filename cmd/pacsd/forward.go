package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"pacsd/forward"
	"pacsd/forward/send"
	"pacsd/store"
)

// forwardFlags configure forwarding (package forward). run is shared by the copies of
// serveConfig: set once the forwarder starts, read by /metrics and the reading room.
type forwardFlags struct {
	file               string
	retryMin, retryMax time.Duration
	run                *forwardRun
}

type forwardRun struct {
	fwd   *forward.Forwarder
	queue forward.Queue
}

func (f *forwardFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "forward-file", "", `JSON file of forwarding destinations and rules ({"destinations": [{"name", "kind": "dicom"|"stow", "aeTitle", "url", "auth": ""|"basic"|"bearer", "user", "secret"}], "rules": [{"destination", "site", "callingAE", "modality", "sopClassUID"}]}) applied at start, destinations by name; both can also be edited at /admin/forward`)
	fs.DurationVar(&f.retryMin, "forward-retry-min", 10*time.Second, "first back-off after a failed forward; it doubles up to --forward-retry-max")
	fs.DurationVar(&f.retryMax, "forward-retry-max", 10*time.Minute, "longest back-off between forwarding attempts")
	f.run = &forwardRun{}
}

// Kick wakes the forwarder (new objects queued); nothing before it starts.
func (r *forwardRun) Kick() {
	if r != nil && r.fwd != nil {
		r.fwd.Kick()
	}
}

// startForwarder applies --forward-file and starts the forwarder over the archive's queue:
// objects queued at ingest (in the instance's own transaction) and left by a crash go out.
func startForwarder(ctx context.Context, c serveConfig, archive *openedArchive, log *slog.Logger) (*forward.Forwarder, error) {
	q := archive.db.forwarding
	if c.forward.file != "" {
		if err := applyForwardFile(ctx, q, c.forward.file); err != nil {
			return nil, err
		}
	}
	clientTLS, err := c.tls.clientTLS()
	if err != nil {
		return nil, err
	}
	owner := nodeName(c.dicomAddr)
	fwd := forward.New(forward.Config{
		Queue: q,
		Sender: send.New(send.Config{Archive: archive.Archive, Peers: archive.db.reading, CallingAE: c.aet,
			TLS: clientTLS, Pixels: c.pixels, Logger: log.With("component", "forward")}),
		Owner:    owner,
		RetryMin: c.forward.retryMin,
		RetryMax: c.forward.retryMax,
		Logger:   log,
	})
	if err := fwd.Start(ctx); err != nil {
		return nil, err
	}
	c.forward.run.fwd, c.forward.run.queue = fwd, q
	archive.OnStored(func(*store.Instance) { fwd.Kick() })
	return fwd, nil
}

// forwardFile is --forward-file.
type forwardFile struct {
	Destinations []forward.Destination `json:"destinations"`
	Rules        []struct {
		Destination string `json:"destination"`
		forward.Rule
	} `json:"rules"`
}

// applyForwardFile makes the destinations of the file exist (by name, updated) and adds
// each rule the index does not have yet, so that applying it at every start is harmless.
func applyForwardFile(ctx context.Context, q forward.Queue, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--forward-file: %w", err)
	}
	var f forwardFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("--forward-file %s: %w", path, err)
	}
	have, err := q.Destinations(ctx)
	if err != nil {
		return err
	}
	byName := map[string]int64{}
	for _, d := range have {
		byName[d.Name] = d.ID
	}
	for _, d := range f.Destinations {
		d.ID, d.Enabled = byName[strings.TrimSpace(d.Name)], true
		if err := q.SaveDestination(ctx, &d); err != nil {
			return fmt.Errorf("--forward-file %s: %w", path, err)
		}
		byName[d.Name] = d.ID
	}
	rules, err := q.Rules(ctx)
	if err != nil {
		return err
	}
	for _, fr := range f.Rules {
		r := fr.Rule
		r.ID, r.Enabled = 0, true
		if r.DestinationID = byName[fr.Destination]; r.DestinationID == 0 {
			return fmt.Errorf("--forward-file %s: rule for unknown destination %q", path, fr.Destination)
		}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("--forward-file %s: %w", path, err)
		}
		dup := false
		for _, o := range rules {
			o.ID, o.Enabled = 0, true
			dup = dup || o == r
		}
		if !dup {
			if err := q.SaveRule(ctx, &r); err != nil {
				return fmt.Errorf("--forward-file %s: %w", path, err)
			}
			rules = append(rules, r)
		}
	}
	return nil
}

// writeMetrics adds the forwarding series to /metrics, labelled by destination.
func (r *forwardRun) writeMetrics(ctx context.Context, w io.Writer) error {
	if r == nil || r.fwd == nil {
		return nil
	}
	st, err := r.queue.Statuses(ctx)
	if err != nil {
		return err
	}
	counts := r.fwd.Counters()
	type series struct {
		name, typ, help string
		v               func(s forward.Status, c forward.Counters) float64
	}
	for _, m := range []series{
		{"pacsd_forward_queued", "gauge", "Objects waiting to be forwarded, by destination.", func(s forward.Status, _ forward.Counters) float64 { return float64(s.Queued) }},
		{"pacsd_forward_failed", "gauge", "Objects given up (refused too often, or gone), by destination.", func(s forward.Status, _ forward.Counters) float64 { return float64(s.Failed) }},
		{"pacsd_forward_failing_since_seconds", "gauge", "Unix time of the first failure of the current run of failures; 0 when forwarding succeeds.", func(s forward.Status, _ forward.Counters) float64 {
			if s.FailingSince.IsZero() {
				return 0
			}
			return float64(s.FailingSince.Unix())
		}},
		{"pacsd_forward_sent_objects_total", "counter", "Objects forwarded since start.", func(_ forward.Status, c forward.Counters) float64 { return float64(c.SentObjects) }},
		{"pacsd_forward_sent_bytes_total", "counter", "Bytes forwarded since start.", func(_ forward.Status, c forward.Counters) float64 { return float64(c.SentBytes) }},
		{"pacsd_forward_failures_total", "counter", "Failed forwarding attempts of objects since start (each retried unless given up).", func(_ forward.Status, c forward.Counters) float64 { return float64(c.Failures) }},
	} {
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ); err != nil {
			return err
		}
		for _, s := range st {
			if _, err := fmt.Fprintf(w, "%s{destination=%s} %g\n", m.name, strconv.Quote(s.Name), m.v(s, counts[s.ID])); err != nil {
				return err
			}
		}
	}
	return nil
}
