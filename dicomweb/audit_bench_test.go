package dicomweb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/audit"
	"pacsd/internal/cputime"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// BenchmarkQIDOAudit is QIDO-RS with the audit trail off (audit.Discard) and on (the
// batching Recorder over the index's SQLite store, as pacsd runs it), for a logged-in user
// as the reading room's authentication puts one in the request (audit.WithActor).
//
// One iteration is a pair of blocks of auditBlock searches, one block per side, in
// alternating order; a block with audit on ends with the writer's Flush, so that its CPU
// time counts the writer's work for its events. On a shared machine, load comes and goes
// within seconds: many short pairs weigh on both sides alike, where a few long runs do not.
// Run it as
//
//	go test -run '^$' -bench QIDOAudit -benchtime 40x ./dicomweb
//
// and read cpu-delta-% (the process's CPU time per search, client, server and writer, on
// against off, over all pairs), cpu-delta-median-% (the median pair's: steadier when load
// comes in bursts) and wall-delta-% (mean latency). "repeat" sends one query over and over (a
// viewer polling a worklist: the writer folds the repeats, audit.Event.Count); "distinct"
// makes every search of a block a query of its own (an includefield nobody stores, so the
// work of the search is the same), the writer's worst case: one row per search.
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
	off := serveAs(b, a, Config{Logger: testLogger(), Audit: audit.Discard}) + "/dicomweb"
	on := serveAs(b, a, Config{Logger: testLogger(), Audit: rec}) + "/dicomweb"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	settle := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rec.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	const q = "/studies?StudyDate=20240301-20240302&limit=10"
	for _, bc := range []struct {
		name  string
		query func(i int) string
	}{
		{"repeat", func(int) string { return q }},
		{"distinct", func(i int) string { return fmt.Sprintf("%s&includefield=0009%04X", q, 0x1000+i) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			block := func(base string, settle func()) (wall, cpu time.Duration) {
				c0, t0 := cputime.Process(), time.Now()
				for range auditBlock {
					n++
					resp, err := client.Get(base + bc.query(n%0xE000))
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("GET %s: %d", bc.query(n), resp.StatusCode)
					}
				}
				wall = time.Since(t0)
				if settle != nil {
					settle()
				}
				return wall, cputime.Process() - c0
			}
			block(off, nil) // warm both servers' connections and caches
			block(on, settle)
			st0 := rec.Stats()
			var wall, cpu [2]time.Duration
			var ratios []float64 // per pair: on's CPU over off's
			pair := 0
			for b.Loop() {
				var pc [2]time.Duration
				for k := range 2 {
					side := (pair + k) % 2 // off first, then on first, ...
					u, s := off, func() {}
					if side == 1 {
						u, s = on, settle
					}
					w, c := block(u, s)
					wall[side] += w
					cpu[side] += c
					pc[side] = c
				}
				ratios = append(ratios, float64(pc[1])/float64(pc[0]))
				pair++
			}
			st := rec.Stats()
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(pair*auditBlock) }
			b.ReportMetric(per(cpu[0]), "off-cpu-us/op")
			b.ReportMetric(per(cpu[1]), "on-cpu-us/op")
			b.ReportMetric(100*(float64(cpu[1])/float64(cpu[0])-1), "cpu-delta-%")
			b.ReportMetric(100*(float64(wall[1])/float64(wall[0])-1), "wall-delta-%")
			slices.Sort(ratios)
			b.ReportMetric(100*(ratios[len(ratios)/2]-1), "cpu-delta-median-%")
			if ev := st.Written - st0.Written; ev > 0 {
				b.ReportMetric(float64(st.Rows-st0.Rows)/float64(ev), "rows/event")
			}
		})
	}
}

// auditBlock is the searches of one side of a BenchmarkQIDOAudit pair (about 0.1 s).
const auditBlock = 300

// serveAs is serve with the reading room's authentication stood in for: every request is
// by one logged-in user, on both sides of a comparison.
func serveAs(t testing.TB, a *store.Archive, cfg Config) string {
	t.Helper()
	e := echo.New()
	e.Use(middleware.Recover())
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			c.SetRequest(r.WithContext(audit.WithActor(r.Context(), audit.User(7, "li.na", "127.0.0.1"))))
			return next(c)
		}
	})
	Register(e.Group("/dicomweb"), a, cfg)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}
