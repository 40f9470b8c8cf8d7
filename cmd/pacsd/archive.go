package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/s3"
)

// archiveConfig is what every command that opens the data dir shares: where the index,
// spool and local blobs are, and the optional S3 bucket objects are written back to.
type archiveConfig struct {
	dataDir         string
	maxObjectMB     int64
	minFreeMB       int64
	fallbackCharset string
	s3              s3.Config
	uploadWorkers   int
	cacheMaxMB      int64
	spoolMaxMB      int64
	uploadRetryMax  time.Duration
	database        databaseConfig
}

func (c *archiveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "./pacsd-data", "index, spool and local blob folder (env PACSD_DATA_DIR)")
	fs.Int64Var(&c.maxObjectMB, "max-object-mb", 4096, "largest object accepted, MiB")
	fs.Int64Var(&c.minFreeMB, "min-free-mb", 512, "refuse new objects (0xA700 / HTTP 507) below this much free disk, MiB")
	fs.StringVar(&c.fallbackCharset, "fallback-charset", "GB18030", "character set for text that is not valid UTF-8 and whose (0008,0005) is missing or unknown; \"\" = ISO 8859-1")
	c.database.register(fs)
	registerS3Flags(fs, &c.s3)
	fs.IntVar(&c.uploadWorkers, "upload-workers", 4, "with S3: concurrent uploads from the local spool")
	fs.Int64Var(&c.cacheMaxMB, "cache-max-mb", 50<<10, "with S3: MiB of uploaded objects kept on local disk as a read cache, newest first (0: none, -1: all)")
	fs.DurationVar(&c.uploadRetryMax, "upload-retry-max", time.Minute, "with S3: longest wait between upload attempts while the bucket is unreachable")
	fs.Int64Var(&c.spoolMaxMB, "spool-max-mb", 100<<10, "with S3: refuse new objects (0xA700 / HTTP 507) while more than this many MiB wait for upload (0: no limit but --min-free-mb)")
}

// openedArchive is an archive with the resources it was opened on.
type openedArchive struct {
	*store.Archive
	db         *database
	remoteName string // "" for a folder-only archive
}

func (o *openedArchive) Close() error {
	err := o.Archive.Close()
	return errors.Join(err, o.db.Close())
}

// openArchive opens the data dir's index and blobs and, when an S3 endpoint is configured,
// the bucket. It starts nothing: serve and migrate call Recover and Start.
func openArchive(ctx context.Context, c archiveConfig, log *slog.Logger) (*openedArchive, error) {
	if err := c.database.check(c.s3.Endpoint); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	idx, err := openDatabase(ctx, c.database, c.dataDir)
	if err != nil {
		return nil, err
	}
	blobs, err := file.New(filepath.Join(c.dataDir, "blobs"))
	if err != nil {
		idx.Close()
		return nil, fmt.Errorf("open blobs: %w", err)
	}
	cfg := store.Config{
		// The spool lives beside the blobs so that adopting a spooled object is a rename.
		SpoolDir:      filepath.Join(c.dataDir, "spool"),
		MaxObjectSize: c.maxObjectMB << 20,
		MinFreeBytes:  c.minFreeMB << 20,
		Logger:        log,
		// Township devices that send Chinese often omit (0008,0005); GB18030 is what
		// they mean far more often than Latin-1.
		FallbackCharset: c.fallbackCharset,
	}
	o := &openedArchive{db: idx}
	if c.s3.Endpoint != "" {
		if err := s3Keys(&c.s3, os.Getenv); err != nil {
			idx.Close()
			return nil, err
		}
		c.s3.Logger = log
		// A bucket that is down at start must not keep modalities from sending: the
		// spool takes them. But a configuration that is wrong (no keys, bad endpoint,
		// access denied) fails now rather than at the first upload.
		remote, err := s3.Open(c.s3)
		if err != nil {
			idx.Close()
			return nil, s3Error(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = remote.Check(sctx)
		cancel()
		switch {
		case errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
			log.Warn("S3 unreachable at start; objects stay in the local spool until it is back", "s3", c.s3, "err", err)
		case err != nil:
			idx.Close()
			return nil, s3Error(err)
		default:
			log.Info("objects are written back to S3", "s3", c.s3)
		}
		cfg.Remote = remote
		cfg.Upload = store.UploadConfig{
			Workers:     c.uploadWorkers,
			LocalBudget: mib(c.cacheMaxMB),
			MaxPending:  mib(c.spoolMaxMB),
			RetryMax:    c.uploadRetryMax,
			// Several nodes: an acknowledged object is in the bucket, never on one node only.
			WriteThrough: c.database.cluster,
		}
		o.remoteName = c.s3.Name()
	}
	a, err := store.NewArchive(idx, blobs, cfg)
	if err != nil {
		idx.Close()
		return nil, fmt.Errorf("archive: %w", err)
	}
	o.Archive = a
	return o, nil
}

// mib converts a MiB flag, keeping negative values (meaning "no limit") negative.
func mib(n int64) int64 {
	if n < 0 {
		return -1
	}
	return n << 20
}
