package main

import (
	"fmt"
	"log/slog"
	"os"

	"pacsd/store/derived"
	"pacsd/store/s3"
)

// openDerived opens, in cluster mode, the bucket's folder where the nodes share the
// thumbnails and metadata records they make (store/derived), so that each is made once
// across the nodes rather than once per node. A single node has none (nil).
func openDerived(c archiveConfig, log *slog.Logger) (derived.Store, error) {
	if !c.database.cluster || c.s3.Endpoint == "" {
		return nil, nil
	}
	cfg := c.s3
	if err := s3Keys(&cfg, os.Getenv); err != nil {
		return nil, err
	}
	cfg.Logger = log
	b, err := s3.Open(cfg)
	if err != nil {
		return nil, s3Error(err)
	}
	d, err := derived.Open(b)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	log.Info("thumbnails and metadata shared with the other nodes", "component", "derived", "folder", d.String())
	return d, nil
}
