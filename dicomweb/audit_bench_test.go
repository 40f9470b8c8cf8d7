package dicomweb

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"pacsd/audit"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// BenchmarkQIDOAudit is QIDO-RS with the audit trail off (audit.Discard) and on (the
// batching Recorder over the index's SQLite store, as pacsd runs it), side by side in one
// run: each search is one event, written in the background.
func BenchmarkQIDOAudit(b *testing.B) {
	const studies = 2000
	dir := b.TempDir()
	idx, err := sqlite.Open(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	buildStudyIndex(b, idx, studies)
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	rec := audit.New(idx.Audit(), audit.Config{Logger: testLogger()})
	go rec.Run()
	defer rec.Close()
	off := serve(b, a, Config{Logger: testLogger(), Audit: audit.Discard}) + "/dicomweb"
	on := serve(b, a, Config{Logger: testLogger(), Audit: rec}) + "/dicomweb"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	const q = "/studies?StudyDate=20240301-20240302&limit=10"
	for range 2 { // interleaved, so that a machine busy for a while weighs on both
		b.Run("off", func(b *testing.B) { benchGet(b, client, off+q, nil) })
		b.Run("on", func(b *testing.B) { benchGet(b, client, on+q, nil) })
	}
}
