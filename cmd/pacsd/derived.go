package main

import (
	"log/slog"

	"pacsd/store/derived"
)

// openDerived opens, in cluster mode, the bucket's folder where the nodes share the
// thumbnails and metadata records they make (store/derived), so that each is made once
// across the nodes rather than once per node. A single node has none (nil).
func openDerived(c archiveConfig, log *slog.Logger) (derived.Store, error) {
	if !c.database.cluster || c.s3.Endpoint == "" {
		return nil, nil
	}
	folder, err := bucketFolder(c.s3, derived.Folder, log)
	if err != nil {
		return nil, err
	}
	log.Info("thumbnails and metadata shared with the other nodes", "component", "derived", "folder", folder.String())
	return derived.New(folder), nil
}
