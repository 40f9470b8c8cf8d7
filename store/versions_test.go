package store_test

import (
	"testing"

	"pacsd/store"
	"pacsd/store/storetest"
)

// TestArchiveVersions: the overwrite rule and kept versions on a folder archive (SQLite
// index, folder blobs); TestWriteBack/Versions runs the same suite with S3 write-back.
func TestArchiveVersions(t *testing.T) {
	storetest.RunArchiveVersions(t, func(t *testing.T) *store.Archive { return newEnv(t).a })
}
