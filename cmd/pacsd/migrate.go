package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"pacsd/store"
)

// runMigrate is `pacsd migrate --to s3`: upload every object of a folder archive to the
// bucket, verify, and evict local copies beyond --cache-max-mb. Resumable: the index
// records each verified upload, so a killed migration continues where it stopped.
//
// It takes the data dir's lock, so it runs while pacsd serve is stopped. The online way is
// to restart pacsd serve with the same --s3-* flags: the uploader then moves the existing
// objects in the background while the hub keeps receiving and serving (objects already on
// disk do not count against --spool-max-mb).
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		c         archiveConfig
		to        string
		logLevel  string
		logFormat string
	)
	fs := flag.NewFlagSet("pacsd migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	fs.StringVar(&to, "to", "", "target store: s3 (configured by the --s3-* flags)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "text", "text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if to != "s3" {
		return fmt.Errorf("migrate: --to must be s3 (got %q)", to)
	}
	if c.s3.Endpoint == "" || c.s3.Bucket == "" {
		return errors.New("migrate: --s3-endpoint and --s3-bucket are required")
	}
	log, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		return err
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
	if err := a.Recover(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := a.Start(ctx, a.remoteName); err != nil {
		return err
	}
	start := time.Now()
	st := a.SpoolStats()
	fmt.Fprintf(stdout, "migrating %d objects (%.1f MiB) to %s\n", st.PendingObjects, float64(st.PendingBytes)/(1<<20), a.remoteName)
	done := make(chan error, 1)
	go func() { done <- a.Drain(ctx) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			st := a.SpoolStats()
			fmt.Fprintf(stdout, "uploaded %d objects (%.1f MiB) in %s; %d local copies evicted; %d failed attempts retried\n",
				st.UploadedObjects, float64(st.UploadedBytes)/(1<<20), time.Since(start).Round(time.Second),
				st.EvictedObjects, st.UploadFailures)
			r, err := a.Check(ctx, store.CheckOptions{Remote: true})
			if err != nil {
				return err
			}
			if r.Missing+r.RemoteMissing > 0 {
				return fmt.Errorf("migrate: check after migration: %d missing, %d missing remotely", r.Missing, r.RemoteMissing)
			}
			fmt.Fprintf(stdout, "check: %d instances, %d objects in the bucket, none missing\n", r.Referenced, r.RemoteStored)
			return nil
		case <-tick.C:
			st := a.SpoolStats()
			fmt.Fprintf(stdout, "%d objects (%.1f MiB) to go, %.1f MiB/s\n", st.PendingObjects, float64(st.PendingBytes)/(1<<20), st.UploadRate/(1<<20))
		}
	}
}
