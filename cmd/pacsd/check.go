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

// runCheck is `pacsd check`: the index against the local store and, with S3 configured, the
// bucket. It may run beside a serving pacsd (SQLite allows it; Repair's grace period keeps
// it off objects of puts in flight), so it takes no lock.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		c         archiveConfig
		hash      bool
		repair    bool
		grace     time.Duration
		logLevel  string
		logFormat string
	)
	fs := flag.NewFlagSet("pacsd check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	fs.BoolVar(&hash, "hash", false, "read every object (local and remote) and compare its SHA-256 with the index")
	fs.BoolVar(&repair, "repair", false, "remove objects the index does not reference (older than --grace) and stale local copies; record lost local copies of uploaded objects as evicted")
	fs.DurationVar(&grace, "grace", 24*time.Hour, "with --repair: leave unreferenced objects younger than this (a put in flight writes its object before its index entry)")
	fs.StringVar(&logLevel, "log-level", "warn", "debug, info, warn, error (findings are logged per object)")
	fs.StringVar(&logFormat, "log-format", "text", "text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		return err
	}
	a, err := openArchive(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.Check(ctx, store.CheckOptions{Remote: a.remoteName != "", Hash: hash, Repair: repair, Grace: grace})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "instances in the index:        %d\n", r.Referenced)
	fmt.Fprintf(stdout, "objects in the local store:    %d\n", r.Stored)
	if a.remoteName != "" {
		fmt.Fprintf(stdout, "objects in %s: %d\n", a.remoteName, r.RemoteStored)
	}
	fmt.Fprintf(stdout, "missing (lost):                %d\n", r.Missing)
	fmt.Fprintf(stdout, "missing remotely (local kept): %d\n", r.RemoteMissing)
	fmt.Fprintf(stdout, "local copy missing:            %d\n", r.LocalMissing)
	fmt.Fprintf(stdout, "unreferenced local:            %d\n", r.Unreferenced)
	fmt.Fprintf(stdout, "unreferenced remote:           %d\n", r.RemoteUnreferenced)
	fmt.Fprintf(stdout, "stale local copies:            %d\n", r.StaleLocal)
	if hash {
		fmt.Fprintf(stdout, "hash mismatches:               %d\n", r.HashMismatch)
	}
	if repair {
		fmt.Fprintf(stdout, "repaired:                      %d\n", r.Repaired)
	}
	if r.Missing+r.RemoteMissing+r.HashMismatch > 0 {
		return errors.New("check: the archive is damaged (see the log for the objects)")
	}
	return nil
}
