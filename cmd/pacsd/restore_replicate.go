package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"pacsd/store/replica"
	"pacsd/store/s3"
)

// replicaFolder is the bucket's reserved folder (store/s3 Reserved: <prefix>/.pacsd/replica/)
// that serve replicates the databases into and `pacsd restore` reads them back from.
const replicaFolder = "replica"

// replicatedDatabases are the SQLite files of the data dir that serve copies to the bucket
// (a missing one is picked up when it appears): the index with the reading room's records,
// and the audit trail.
var replicatedDatabases = []string{"index.db", "audit.db"}

// replicaFlags configure the continuous copy of the databases to the bucket (serve).
type replicaFlags struct {
	on               bool
	interval         time.Duration
	snapshotInterval time.Duration
}

func (f *replicaFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "replica", true, "with S3: copy the data dir's SQLite databases (index, reading room, audit) to the bucket as they change, for pacsd restore")
	fs.DurationVar(&f.interval, "replica-interval", time.Second, "with --replica: how often committed changes are shipped (about the most a lost server takes with it)")
	fs.DurationVar(&f.snapshotInterval, "replica-snapshot-interval", 24*time.Hour, "with --replica: how often a full copy starts a new generation (a restore replays at most this much)")
}

// replicaRunner is what serve closes: nothing when replication is off.
type replicaRunner struct{ r *replica.Replicator }

// Close ships the last changes and stops; serve calls it after everything that writes the
// databases has stopped and before they are closed.
func (r *replicaRunner) Close() {
	if r.r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = r.r.Close(ctx) // logged by the replicator
}

// startReplica starts replicating the data dir's databases into the bucket, when one is
// configured and --replica is on.
func startReplica(ctx context.Context, c archiveConfig, f replicaFlags, log *slog.Logger) (*replicaRunner, error) {
	if c.s3.Endpoint == "" || !f.on {
		return &replicaRunner{}, nil
	}
	folder, err := replicaBucket(c.s3, log)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, name := range replicatedDatabases {
		paths = append(paths, filepath.Join(c.dataDir, name))
	}
	r, err := replica.Start(ctx, replica.Config{Bucket: folder, Paths: paths, Interval: f.interval,
		SnapshotInterval: f.snapshotInterval, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("databases replicated to the bucket", "component", "replica", "folder", folder.String(), "interval", f.interval)
	return &replicaRunner{r: r}, nil
}

// replicaBucket opens the bucket's replica folder (keys from the environment, as for the
// objects). It does not contact the server.
func replicaBucket(cfg s3.Config, log *slog.Logger) (*s3.Reserved, error) {
	return bucketFolder(cfg, replicaFolder, log)
}

// bucketFolder opens the bucket's reserved folder dir (store/s3 Reserved), with the keys
// from the environment as for the objects. It does not contact the server.
func bucketFolder(cfg s3.Config, dir string, log *slog.Logger) (*s3.Reserved, error) {
	if err := s3Keys(&cfg, os.Getenv); err != nil {
		return nil, err
	}
	cfg.Logger = log
	b, err := s3.Open(cfg)
	if err != nil {
		return nil, s3Error(err)
	}
	folder, err := b.Reserved(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return folder, nil
}
