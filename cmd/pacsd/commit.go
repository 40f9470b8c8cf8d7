package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"pacsd/qr"
)

// commitFlags configure the Storage Commitment Push Model SCP (qr.Committer).
type commitFlags struct {
	policy     string
	uploadWait time.Duration
}

func (f *commitFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.policy, "storage-commitment", "durable", "when a Storage Commitment request is answered with success for an instance: durable (on local disk, the S3 write-back spool included, and indexed: what a C-STORE success already promises) or uploaded (with S3: also in the bucket, waiting up to --storage-commitment-wait)")
	fs.DurationVar(&f.uploadWait, "storage-commitment-wait", 10*time.Minute, "with --storage-commitment=uploaded: how long a report waits for uploads before failing the instances still not in the bucket (0x0110)")
}

// newCommitter is the Storage Commitment SCP of the Q/R service q: registered peers that
// may store ask about their objects; reports go back on their association or to their
// registered host and port (with TLS when they require it).
func newCommitter(c serveConfig, q *qr.Service) (*qr.Committer, error) {
	cfg := qr.CommitConfig{UploadWait: c.commit.uploadWait}
	switch c.commit.policy {
	case "durable", "":
	case "uploaded":
		if c.s3.Endpoint == "" {
			return nil, errors.New("--storage-commitment=uploaded needs S3 (--s3-endpoint): without a bucket, durable is the only policy")
		}
		cfg.Policy = qr.CommitUploaded
	default:
		return nil, fmt.Errorf("--storage-commitment %q: want durable or uploaded", c.commit.policy)
	}
	clientTLS, err := c.tls.clientTLS()
	if err != nil {
		return nil, err
	}
	cfg.TLS = clientTLS
	return qr.NewCommitter(q, cfg), nil
}
