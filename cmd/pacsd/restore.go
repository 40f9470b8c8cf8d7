package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"pacsd/store/replica"
	"pacsd/store/s3"
)

// runRestore is `pacsd restore`: it rebuilds a lost server's databases (index.db with the
// reading room's records, audit.db) in a fresh data dir from the replica serve keeps in the
// bucket (store/replica). The objects stay in the bucket, which pacsd reads through its
// cache; objects that were still waiting in the lost server's spool never reached it.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		dataDir  string
		s3cfg    s3.Config
		force    bool
		logLevel string
	)
	fs := flag.NewFlagSet("pacsd restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&dataDir, "data-dir", "./pacsd-data", "the data dir to rebuild; must be empty (or missing) unless --force (env PACSD_DATA_DIR)")
	registerS3Flags(fs, &s3cfg)
	fs.BoolVar(&force, "force", false, "restore into a data dir that is not empty, replacing its databases")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, logLevel, "text")
	if err != nil {
		return err
	}
	if s3cfg.Endpoint == "" {
		return errors.New("restore: --s3-endpoint and --s3-bucket are required: the replica is in the bucket")
	}
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 && !force {
		return fmt.Errorf("restore: data dir %s is not empty (--force replaces its databases)", dataDir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// A pacsd serving this data dir holds the lock: never restore under it.
	unlock, err := lockDir(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	folder, err := replicaBucket(s3cfg, log)
	if err != nil {
		return err
	}
	names, err := replica.Databases(ctx, folder)
	if err != nil {
		return fmt.Errorf("restore: %w", s3Error(err))
	}
	if !slices.Contains(names, "index.db") {
		return fmt.Errorf("restore: no replica of index.db in %s (was pacsd serving with --replica?)", folder)
	}
	for _, name := range names {
		if !slices.Contains(replicatedDatabases, name) {
			log.Warn("restore: skipping a replica of an unknown database", "db", name)
			continue
		}
		dest := filepath.Join(dataDir, name)
		for _, p := range []string{dest, dest + "-wal", dest + "-shm"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("restore: %w", err)
			}
		}
		res, err := replica.Restore(ctx, folder, name, dest, log)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: generation %s, snapshot of %s + %d WAL segments (%d frames); changes up to %s are back\n",
			name, res.Generation, res.Snapshot.Local().Format(time.RFC3339), res.Segments, res.Frames, res.Through.Local().Format(time.RFC3339))
		if res.Stopped != "" {
			fmt.Fprintf(stdout, "%s: WARNING: stopped early: %s\n", name, res.Stopped)
		}
	}
	fmt.Fprintln(stdout, "restored; integrity checked. Objects stay in the bucket. Objects still waiting for upload when the server was lost are gone: `pacsd check` counts them as missing (lost).")
	return nil
}
