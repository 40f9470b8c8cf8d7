package replica

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

// TestIngestCost ingests the same records into pacsd's real index (store/sqlite, 4
// writers: group commit) without and with the replicator shipping to MinIO every second,
// and logs what replication costs: wall time, this process's CPU time (user + system), the
// bytes shipped per instance, the longest the index's writer was held off, the largest
// WAL. Then the replica must restore to the same number of instances.
func TestIngestCost(t *testing.T) {
	if testing.Short() {
		t.Skip("cost measurement")
	}
	srv := miniotest.Start(t)
	b, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Bucket: "cost", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	folder, err := b.Reserved("replica")
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for _, replicate := range []bool{false, true} {
		t.Run(fmt.Sprint("replicate=", replicate), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "index.db")
			idx, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			var r *Replicator
			if replicate {
				r = start(t, folder, Config{Paths: []string{path}, Interval: time.Second, CheckpointFrames: ckptFrames()})
			}
			var maxWAL int64
			stop := make(chan struct{})
			var watch sync.WaitGroup
			watch.Go(func() {
				for {
					if fi, err := os.Stat(path + "-wal"); err == nil {
						maxWAL = max(maxWAL, fi.Size())
					}
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			})
			cpu0, start := cpuTime(t), time.Now()
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := w; i < n; i += 4 {
						f := storetest.Fixture{Study: fmt.Sprintf("1.2.9.%d", i/20), Series: fmt.Sprintf("1.2.9.%d.1", i/20),
							SOP: fmt.Sprintf("1.2.9.%d.1.%d", i/20, i), SOPClass: storetest.ClassCR, PatientName: "ZHANG^WEI=张^伟=",
							PatientID: fmt.Sprint("P", i/20), StudyDate: "20260301", Modality: "CR", Accession: fmt.Sprint("A", i/20),
							StudyDescription: "CHEST PA", Institution: "Township A", SeriesNumber: 1, InstanceNumber: i % 20,
							Content: fmt.Sprint("object ", i)}
						if _, err := idx.PutInstance(ctx, f.Instance()); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			wall, cpu := time.Since(start), cpuTime(t)-cpu0
			close(stop)
			watch.Wait()
			if !replicate {
				t.Logf("%d instances: %.2f s, %.0f/s, CPU %.2f s (%.3f ms/instance), largest WAL %.1f MB",
					n, wall.Seconds(), n/wall.Seconds(), cpu.Seconds(), cpu.Seconds()*1000/n, float64(maxWAL)/1e6)
				return
			}
			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
			st := r.Stats()
			t.Logf("%d instances: %.2f s, %.0f/s, CPU %.2f s (%.3f ms/instance), largest WAL %.1f MB; shipped %d segments, %.1f MB (%.0f bytes/instance), %d checkpoints, replicator busy %v, writer held off at most %v",
				n, wall.Seconds(), n/wall.Seconds(), cpu.Seconds(), cpu.Seconds()*1000/n, float64(maxWAL)/1e6,
				st.Segments.Load(), float64(st.SegmentBytes.Load())/1e6, float64(st.SegmentBytes.Load())/n,
				st.Checkpoints.Load(), time.Duration(st.Busy.Load()).Round(time.Millisecond), time.Duration(st.MaxLockHold.Load()).Round(time.Microsecond))
			dest := filepath.Join(t.TempDir(), "index.db")
			if _, err := Restore(ctx, folder, "index.db", dest, nil); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite3", dest)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var got int
			if err := db.QueryRow("SELECT count(*) FROM instances").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != n {
				t.Fatalf("restored %d instances, want %d", got, n)
			}
		})
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ckptFrames lets a run compare checkpoint thresholds (PACSD_REPLICA_CKPT_FRAMES).
func ckptFrames() uint32 {
	var n uint32
	fmt.Sscan(os.Getenv("PACSD_REPLICA_CKPT_FRAMES"), &n)
	return n
}
