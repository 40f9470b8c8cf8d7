package dicomweb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/audit"
	"pacsd/audit/audittest"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// BenchmarkQIDOAudit is QIDO-RS with the audit trail off (events dropped) and on (the
// batching Recorder over the SQLite store, as pacsd runs it), for a logged-in user as the
// reading room's authentication puts one in the request (audit.WithActor), with the trail in
// two places, side by side in one run: "index.db" in the index's own tables (where pacsd
// kept it before audit.db: every commit of events costs the index's readers their page
// cache, so the next searches read cold) and "audit.db" in its own file beside the index
// (sqlite.Index.OpenAudit, as pacsd keeps it now).
//
// One iteration is a pair of blocks of auditBlock searches, one block per side, in
// alternating order (audittest.CompareOnOff); a block with audit on ends with the writer's
// Flush, so that its CPU time counts the writer's work for its events. On a shared
// machine, load comes and goes within seconds: many short pairs weigh on both sides
// alike, where a few long runs do not. Run it as
//
//	go test -run '^$' -bench QIDOAudit -benchtime 60x ./dicomweb
//
// and read cpu-delta-% (the process's CPU time per search, on against off),
// cpu-delta-median-% and wall-delta-% (mean latency). "repeat" sends one query over and over (a
// viewer polling a worklist: the writer folds the repeats, audit.Event.Count); "distinct"
// makes every search of a block a query of its own (an includefield nobody stores, so the
// work of the search is the same), the writer's worst case: one row per search; "name" is
// PatientName=张* (about 500 of the 4000 studies), distinct too: the search that reads
// the most of the index, and so lost the most to a cold page cache.
func BenchmarkQIDOAudit(b *testing.B) {
	const studies = 4000
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
	trail, err := idx.OpenAudit(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer trail.Close()
	// One server for every side, its recorder switched: two servers, even alike, differed
	// by several percent in a comparison of two with the trail off.
	sw := &switchAuditor{}
	base := serveAs(b, a, Config{Logger: testLogger(), Audit: sw}) + "/dicomweb"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	const q = "/studies?StudyDate=20240301-20240302&limit=10"
	for _, where := range []struct {
		name string
		st   audit.Store
	}{{"index.db", idx.Audit()}, {"audit.db", trail}} {
		rec := audit.New(where.st, audit.Config{Logger: testLogger()})
		go rec.Run()
		sw.rec.Store(rec)
		settle := func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := rec.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		for _, bc := range []struct {
			name  string
			query func(i int) string
		}{
			{"repeat", func(int) string { return q }},
			{"distinct", func(i int) string { return fmt.Sprintf("%s&includefield=0009%04X", q, 0x1000+i) }},
			{"name", func(i int) string { return fmt.Sprintf("/studies?PatientName=张*&includefield=0009%04X", 0x1000+i) }},
		} {
			b.Run(where.name+"/"+bc.name, func(b *testing.B) {
				n := 0
				run := func(on bool) int {
					sw.on.Store(on)
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
					return auditBlock
				}
				run(false) // warm both servers' connections and caches
				run(true)
				settle()
				st0 := rec.Stats()
				audittest.CompareOnOff(b, run, settle)
				if st := rec.Stats(); st.Written > st0.Written {
					b.ReportMetric(float64(st.Rows-st0.Rows)/float64(st.Written-st0.Written), "rows/event")
				}
			})
		}
		sw.on.Store(false)
		rec.Close()
	}
}

// switchAuditor passes events on to rec while on is set, and drops them otherwise
// (audit.Discard).
type switchAuditor struct {
	on  atomic.Bool
	rec atomic.Pointer[audit.Recorder]
}

func (s *switchAuditor) Record(ctx context.Context, ev audit.Event) {
	if s.on.Load() {
		s.rec.Load().Record(ctx, ev)
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
