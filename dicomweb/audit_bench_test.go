package dicomweb

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

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
	// The writer's work is counted: "on" ends only once every event it was given is
	// written, and cpu-us/op is the whole process's CPU (client, server and writer).
	settle := func() {
		deadline := time.Now().Add(10 * time.Second)
		for st := rec.Stats(); st.Written+st.Lost < st.Recorded; st = rec.Stats() {
			if time.Now().After(deadline) {
				b.Fatalf("audit writer behind: %+v", st)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Interleaved rounds, so that a machine busy for a while weighs on both sides; the
	// summary compares the sums of the per-round means (latency) and CPU per search.
	var mean, cpu [2]time.Duration
	run := func(side int, u string, settle func()) func(*testing.B) {
		return func(b *testing.B) {
			// b.Run calls this with growing b.N; the last call is the measured one.
			mean[side], cpu[side] = benchGetSettle(b, client, u, nil, settle)
		}
	}
	var sumWall, sumCPU [2]float64
	for range 5 {
		b.Run("off", run(0, off+q, nil))
		b.Run("on", run(1, on+q, settle))
		for i := range 2 {
			sumWall[i] += float64(mean[i])
			sumCPU[i] += float64(cpu[i])
		}
	}
	b.Logf("audit on vs off over 5 rounds: mean latency per search %+.1f%%, process CPU per search %+.1f%% (target: within 5%%)",
		100*(sumWall[1]/sumWall[0]-1), 100*(sumCPU[1]/sumCPU[0]-1))
}
