package dicomweb

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"pacsd/internal/backlog"
	"pacsd/store"
)

// TestWarmAtIngest: objects stored while the Service runs have their metadata records
// built in the background, so the first series metadata request reads no header.
func TestWarmAtIngest(t *testing.T) {
	a, _ := newArchive(t)
	cacheDir := t.TempDir()
	base, s, svc := registerWith(t, a, Config{Logger: testLogger(), CacheDir: cacheDir})
	svc.Start(context.Background())
	t.Cleanup(svc.Close)

	const n = 6
	study, series := "1.2.826.0.1.3680043.10.11.1", "1.2.826.0.1.3680043.10.11.2"
	for i := range n {
		obj := imageObject(fmt.Sprintf("1.2.826.0.1.3680043.10.11.3.%d", i+1), study, series, 32, 32, 1).
			with(0x00200013, "IS", fmt.Sprint(i+1)+" ")
		if _, err := a.Put(context.Background(), bytes.NewReader(obj.bytes(t)), store.PutRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// The worker waits for ingest to pause (Archive.Ingesting), then builds.
	deadline := time.Now().Add(30 * time.Second)
	for svc.Stats().Warmed < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %+v", svc.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	built := s.meta.builds.Load()
	if built != n {
		t.Errorf("%d records built in the background, want %d", built, n)
	}
	if files, _ := filepath.Glob(filepath.Join(cacheDir, "*", "*.json")); len(files) != n {
		t.Errorf("%d record files, want %d", len(files), n)
	}
	ds, r := getMeta(t, base+"/dicomweb/studies/"+study+"/series/"+series+"/metadata", nil)
	if r.status != http.StatusOK || len(ds) != n {
		t.Fatalf("series metadata: %d, %d data sets", r.status, len(ds))
	}
	if got := s.meta.builds.Load(); got != built {
		t.Errorf("the first series metadata request built %d records; the background should have", got-built)
	}
	if st := svc.Stats(); st.Overflowed != 0 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestWarmOverflow: objects that find the queue full (a bulk load) are not forgotten: their
// series are gone through afterwards and every record is built before anyone asks.
func TestWarmOverflow(t *testing.T) {
	a, _ := newArchive(t)
	base, s, svc := registerWith(t, a, Config{Logger: testLogger(), CacheDir: t.TempDir()})
	svc.queue = backlog.New(2)
	t.Cleanup(svc.Close)

	study := "1.2.826.0.1.3680043.10.12.1"
	var recs []*store.Instance
	for se := range 3 {
		series := fmt.Sprintf("1.2.826.0.1.3680043.10.12.2.%d", se+1)
		for i := range 4 {
			obj := imageObject(fmt.Sprintf("1.2.826.0.1.3680043.10.12.3.%d.%d", se+1, i+1), study, series, 16, 16, 1).
				with(0x00200013, "IS", fmt.Sprint(i+1)+" ")
			rec, err := a.Put(context.Background(), bytes.NewReader(obj.bytes(t)), store.PutRequest{})
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, rec)
		}
	}
	// As the archive would have called it during the load, before the worker ran.
	for _, rec := range recs {
		svc.Warm(rec)
	}
	if st := svc.Stats(); st.Queued != 2 || st.Overflowed != int64(len(recs)-2) || st.SeriesQueued != 3 {
		t.Fatalf("before the worker: %+v, want 2 queued, %d overflowed in 3 series", st, len(recs)-2)
	}
	svc.Start(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for st := svc.Stats(); st.Queued+st.SeriesQueued > 0 || s.meta.builds.Load() < int64(len(recs)); st = svc.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %+v, %d built", st, s.meta.builds.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	built := s.meta.builds.Load()
	if built != int64(len(recs)) {
		t.Errorf("%d records built, want %d (each once)", built, len(recs))
	}
	ds, r := getMeta(t, base+"/dicomweb/studies/"+study+"/metadata", nil)
	if r.status != http.StatusOK || len(ds) != len(recs) {
		t.Fatalf("study metadata: %d, %d data sets", r.status, len(ds))
	}
	if got := s.meta.builds.Load(); got != built {
		t.Errorf("the first metadata request built %d records; the background should have", got-built)
	}
}

// TestWarmNeverBlocks: Warm is called on the Put's goroutine; a full queue or a closed
// Service queues the object (or its series) instead of waiting.
func TestWarmNeverBlocks(t *testing.T) {
	a, _ := newArchive(t)
	_, _, svc := registerWith(t, a, Config{Logger: testLogger()})
	// Not started: nothing drains the queue.
	in := &store.Instance{SOPInstanceUID: "1.2.3", SHA256: fakeSHA("x")}
	done := make(chan struct{})
	go func() {
		for range warmQueueLen + 10 {
			svc.Warm(in)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Warm blocked on a full queue")
	}
	if st := svc.Stats(); st.Overflowed != 10 || st.SeriesQueued != 1 {
		t.Errorf("stats %+v, want 10 overflowed into 1 series", st)
	}
	svc.Close()
	svc.Warm(in) // after Close: dropped quietly
	svc.Start(context.Background())
	svc.Close() // Start after Close does nothing; Close twice is harmless
}
