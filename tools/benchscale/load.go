package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/postgres"
	"pacsd/store/sqlite"
	"pacsd/tools/internal/benchkit"
)

// progress is what a data dir holds of its load, written after each finished chunk: a later
// run continues at Studies (the studies before it are all indexed).
type progress struct {
	Seed      uint64  `json:"seed"`
	Studies   int     `json:"studies"`
	Instances int64   `json:"instances"`
	Seconds   float64 `json:"seconds"` // loading time summed over runs
}

func progressPath(dataDir string) string { return filepath.Join(dataDir, "benchscale-progress.json") }

func readProgress(dataDir string) (progress, error) {
	var p progress
	b, err := os.ReadFile(progressPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%s: %w", progressPath(dataDir), err)
	}
	return p, nil
}

func writeProgress(dataDir string, p progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tmp := progressPath(dataDir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, progressPath(dataDir))
}

// openArchive opens a data dir the way `pacsd serve` does (cmd/pacsd openArchive with a
// folder backend): the index (the data dir's index.db, or PostgreSQL when dbURL is set),
// the blobs under blobs/, the spool under spool/. Put on it is what C-STORE and STOW-RS
// call once the bytes have arrived: spool, fsync, index.
func openArchive(ctx context.Context, dataDir, dbURL string) (*store.Archive, io.Closer, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	var idx store.Index
	var err error
	if dbURL != "" {
		idx, err = postgres.Open(ctx, dbURL)
	} else {
		idx, err = sqlite.Open(ctx, filepath.Join(dataDir, "index.db"))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open index: %w", err)
	}
	blobs, err := file.New(filepath.Join(dataDir, "blobs"))
	if err != nil {
		idx.Close()
		return nil, nil, fmt.Errorf("open blobs: %w", err)
	}
	// One log line per object at info level: a million of them would be the run's cost.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "benchscale")
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dataDir, "spool"), Logger: log,
		FallbackCharset: "GB18030"})
	if err != nil {
		idx.Close()
		return nil, nil, fmt.Errorf("archive: %w", err)
	}
	return a, idx, nil
}

// load puts studies [from, total) into the data dir, workers at a time, chunk studies
// between progress records. It returns the progress after the last chunk.
func load(ctx context.Context, o options, engine, dataDir, dbURL string) (progress, error) {
	p, err := readProgress(dataDir)
	if err != nil {
		return p, err
	}
	if p.Studies > 0 && p.Seed != o.seed {
		return p, fmt.Errorf("%s was loaded with seed %d, not %d: remove it or use its seed", dataDir, p.Seed, o.seed)
	}
	p.Seed = o.seed
	if p.Studies >= o.studies {
		fmt.Printf("  %s: %d studies (%d instances) already loaded (%.0f/s then)\n", engine, p.Studies, p.Instances, float64(p.Instances)/p.Seconds)
		return p, nil
	}
	a, closer, err := openArchive(ctx, dataDir, dbURL)
	if err != nil {
		return p, err
	}
	defer closer.Close()
	if p.Studies > 0 {
		fmt.Printf("  %s: continuing at study %d of %d\n", engine, p.Studies, o.studies)
	}
	for p.Studies < o.studies {
		end := min(p.Studies+o.chunk, o.studies)
		t0 := time.Now()
		n, err := loadChunk(ctx, a, o, p.Studies, end)
		if err != nil {
			return p, err
		}
		secs := time.Since(t0).Seconds()
		p.Studies, p.Instances, p.Seconds = end, p.Instances+n, p.Seconds+secs
		if err := writeProgress(dataDir, p); err != nil {
			return p, err
		}
		fmt.Printf("  %s: %d/%d studies, %d instances; this chunk %.0f objects/s, overall %.0f/s; load average %s\n",
			engine, p.Studies, o.studies, p.Instances, float64(n)/secs, float64(p.Instances)/p.Seconds, benchkit.Loadavg())
	}
	return p, nil
}

// loadChunk puts studies [from, to), a study per job so that a study's instances arrive
// in order on one goroutine, as a modality's association sends them.
func loadChunk(ctx context.Context, a *store.Archive, o options, from, to int) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var n atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for w := 0; w < o.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				k, err := putStudy(ctx, a, o.seed, i)
				n.Add(k)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := from; i < to; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return n.Load(), firstErr
	}
	return n.Load(), ctx.Err()
}

func putStudy(ctx context.Context, a *store.Archive, seed uint64, i int) (int64, error) {
	st := studyAt(seed, i)
	site := sites[st.site]
	origin := store.Origin{Transport: "dimse", CallingAE: site.ae, CalledAE: "BENCH", RemoteAddr: "127.0.0.1", Site: "ae:" + site.ae}
	var n int64
	for _, se := range st.series {
		for j := 1; j <= se.instances; j++ {
			b, uid, err := st.object(seed, se, j)
			if err != nil {
				return n, err
			}
			// A re-put of an instance a stopped run stored before its chunk was recorded has
			// the same bytes: Put accepts it again.
			if _, err := a.Put(ctx, bytes.NewReader(b), store.PutRequest{Origin: origin,
				ExpectSOPInstanceUID: uid, ExpectSOPClassUID: se.class}); err != nil {
				return n, fmt.Errorf("put study %d instance %s: %w", i, uid, err)
			}
			n++
		}
	}
	return n, nil
}
