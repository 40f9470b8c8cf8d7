package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"pacsd/reading"
	"pacsd/store"
)

// runReindex is `pacsd reindex`: the index rebuilt from the objects alone, when the index
// and its replica are lost (store.Archive.Reindex), then the signed reports from their SR
// objects (reindex_reports.go). Run it on a fresh data dir with the bucket configured as
// serve has it; then start pacsd. It takes the data dir's lock, so not beside a serving
// pacsd.
func runReindex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		c         archiveConfig
		force     bool
		workers   int
		logLevel  string
		logFormat string
	)
	fs := flag.NewFlagSet("pacsd reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	fs.BoolVar(&force, "force", false, "rebuild into an index that already has instances (it knows more than the objects: sites, senders, restored versions; what it holds is kept, what it lacks is added)")
	fs.IntVar(&workers, "reindex-workers", 4, "objects read and parsed at once (hides the bucket's latency)")
	fs.StringVar(&logLevel, "log-level", "warn", "debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "text", "text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("reindex: unexpected arguments %q", fs.Args())
	}
	log, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	unlock, err := lockDir(c.dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	a, err := openArchive(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Recover(ctx); err != nil { // a spool left by a crashed serve on this data dir
		return fmt.Errorf("recover: %w", err)
	}
	where := "the local folder"
	if a.remoteName != "" {
		where = a.remoteName + " and the local folder"
	}
	fmt.Fprintf(stderr, "reindex: reading every object in %s\n", where)
	start := time.Now()
	rd := a.db.reading
	reports := &reportDocs{log: log.With("component", "reindex")}
	st, err := a.Reindex(ctx, store.ReindexOptions{
		Site:    func(ctx context.Context, ae string) (string, error) { return senderSite(ctx, rd, ae) },
		Indexed: reports.add,
		Workers: workers,
		Force:   force,
		Progress: func(st store.ReindexStats) {
			fmt.Fprintf(stderr, "reindex: %d objects read (%.1f MiB), %d indexed, %d already indexed, %d skipped, %s\n",
				st.Objects, float64(st.Bytes)/(1<<20), st.Indexed, st.Known, st.Unreadable, time.Since(start).Round(time.Second))
		},
	})
	if errors.Is(err, store.ErrConflict) && !force {
		return fmt.Errorf("%w (--force)", err)
	}
	if err != nil {
		return err
	}
	rs, err := reports.restore(ctx, rd)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "reindex: done in %s: %d objects (%.1f MiB), %d indexed (%d of them earlier versions), %d already indexed, %d skipped (not DICOM: see the log)\n",
		time.Since(start).Round(time.Second), st.Objects, float64(st.Bytes)/(1<<20), st.Indexed, st.Versions, st.Known, st.Unreadable)
	fmt.Fprintf(stderr, "reindex: reports: %d signed versions of %d studies restored from their SR objects, %d already there\n",
		rs.restored, rs.studies, rs.known)
	fmt.Fprintln(stderr, "reindex: not in the objects, so not restored: accounts, sites and peers (apply --sites-file/--peers-file "+
		"when serving: studies are attributed again by calling AE and institution), drafts, amendment reasons, audit, orders, "+
		"shares, annotations not stored as SR")
	return nil
}

// senderSite is the Origin.Site of an object received over DIMSE from callingAE, by the
// peers registry as it is now (empty on a fresh data dir): a registered peer's site, else
// an unknown sender's "ae:" site, as ingest records them. Unlike ingest it refuses no one:
// the object was accepted when it came.
func senderSite(ctx context.Context, peers reading.PeerLookup, callingAE string) (string, error) {
	p, ok, err := peers.Peer(ctx, callingAE)
	switch {
	case err != nil:
		return "", err
	case ok:
		return reading.SenderSite(p.SiteID), nil
	}
	return "ae:" + callingAE, nil
}
