// Command benchscale measures pacsd at a county's scale (issue 20: a million instances):
// it loads a generated corpus through the real ingest path into a data dir with SQLite
// and into one with PostgreSQL, then starts the real `pacsd serve` on each and measures
// start-up to listening, the QIDO-RS and C-FIND queries of tools/benchweb, the reading
// room's worklist (first page and filtered pages) and the resident memory of each node.
//
// The corpus is a county's mix (mostly DR with 1-3 images and ultrasound with 5-30, some
// CT with 100-300 slices, about 10 instances per study; Chinese names in UTF-8, GB18030
// and GB2312 through ISO 2022; five years of dates; nine township sites), drawn study by
// study from -seed while loading: nothing of it is held in memory or written beforehand.
// Objects are 16x16 pixels: what is measured is the index, not the disk.
//
// Loading is in-process store.Archive.Put on the archive opened as `pacsd serve` opens it
// (the index, blobs/ and spool/ in the data dir): what C-STORE and STOW-RS call once the
// bytes have arrived (spool, fsync, index), several studies at once. A million objects
// take hours on two cores, so a load is resumable: each data dir records the studies it
// holds after every chunk, and a run with -keep continues (or skips) the load and measures;
// a larger -studies later grows the same corpus. PostgreSQL is a server this command starts
// in a temporary directory (internal/pgtest, durable: fsync on), gone at the end of the
// run, unless -pg-url names a database that outlives it (then -keep keeps both).
//
// `make bench-scale` runs it at 100,000 studies.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"pacsd/internal/pgtest"
	"pacsd/tools/internal/benchkit"
)

type options struct {
	dir, pacsd, pgURL string
	engines           []string
	studies, chunk    int
	workers           int
	seed              uint64
	n, warm           int
	keep, loadOnly    bool
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".cache/benchscale", "scratch folder: the loaded data dirs and the nodes' logs")
	flag.StringVar(&o.pacsd, "pacsd", "", "pacsd binary (default: go build ./cmd/pacsd)")
	flag.IntVar(&o.studies, "studies", 100000, "studies in the corpus (about 10 instances each)")
	flag.IntVar(&o.chunk, "chunk", 1000, "studies between progress records (a stopped load resumes at the last one)")
	flag.IntVar(&o.workers, "workers", 4, "studies put at once while loading")
	flag.Uint64Var(&o.seed, "seed", 1, "corpus seed")
	flag.IntVar(&o.n, "n", 200, "timed requests per row and node")
	flag.IntVar(&o.warm, "warm", 3, "untimed warm-up requests per row and node")
	flag.BoolVar(&o.keep, "keep", false, "keep the loaded data dirs; a later -keep run continues or reuses the load")
	flag.BoolVar(&o.loadOnly, "load-only", false, "load (or continue loading) and stop: measure in a later -keep run")
	flag.StringVar(&o.pgURL, "pg-url", "", "PostgreSQL database to load and measure (postgres://...); default: a server started in a temporary directory for this run")
	engines := flag.String("engines", "sqlite,postgres", "engines to measure, comma-separated")
	flag.Parse()
	o.engines = strings.Split(*engines, ",")
	if _, err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

// engineResult is one engine's line of the report.
type engineResult struct {
	engine   string
	loaded   progress
	startup  time.Duration
	rss      int64
	rows     []result
	skipped  string // why the node was not measured
	loadRate float64
}

func run(ctx context.Context, o options) ([]engineResult, error) {
	t0 := time.Now()
	for _, e := range o.engines {
		if e != "sqlite" && e != "postgres" {
			return nil, fmt.Errorf("-engines: %q is neither sqlite nor postgres", e)
		}
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, err
	}
	work, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	fmt.Printf("benchscale: %d CPUs, load average %s, %s; %d studies, seed %d\n", runtime.NumCPU(), benchkit.Loadavg(), runtime.Version(), o.studies, o.seed)
	if o.pacsd == "" {
		o.pacsd = filepath.Join(work, "pacsd")
		// A fresh build each run: the benchmark must measure the tree as it is.
		if b, err := exec.Command("go", "build", "-o", o.pacsd, "./cmd/pacsd").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/pacsd: %v\n%s", err, b)
		}
	}
	runDir := filepath.Join(work, fmt.Sprintf("run-s%d", o.seed))
	if !o.keep {
		os.RemoveAll(runDir)
		defer os.RemoveAll(runDir)
	}

	var results []engineResult
	for _, engine := range o.engines {
		dir := filepath.Join(runDir, engine)
		dbURL := ""
		if engine == "postgres" {
			if o.pgURL == "" {
				// A database that dies with this run cannot be kept: its data dir neither.
				os.RemoveAll(dir)
				srv, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
				if err != nil {
					return nil, err
				}
				defer srv.Stop()
				if dbURL, err = srv.CreateDB(ctx, "benchscale"); err != nil {
					return nil, err
				}
			} else {
				dbURL = o.pgURL
			}
		}
		r, err := runEngine(ctx, o, engine, dir, dbURL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", engine, err)
		}
		results = append(results, r)
	}
	printReport(o, results)
	fmt.Printf("\nload average at the end %s; whole run %.0f s\n", benchkit.Loadavg(), time.Since(t0).Seconds())
	return results, nil
}

func runEngine(ctx context.Context, o options, engine, dir, dbURL string) (engineResult, error) {
	r := engineResult{engine: engine}
	dataDir := filepath.Join(dir, "data")
	fmt.Printf("loading %s (%d studies, %d at once) ...\n", engine, o.studies, o.workers)
	p, err := load(ctx, o, engine, dataDir, dbURL)
	if err != nil {
		return r, err
	}
	r.loaded = p
	r.loadRate = float64(p.Instances) / p.Seconds
	if o.loadOnly {
		r.skipped = "-load-only"
		return r, nil
	}
	nd, err := startNode(o.pacsd, engine, dataDir, dbURL, dir)
	if err != nil {
		return r, err
	}
	defer nd.stop()
	r.startup = nd.startup
	fmt.Printf("  %s: pacsd listening and ready %.0f ms after exec; measuring ...\n", engine, float64(nd.startup)/1e6)
	sums := summarize(o.seed, p.Studies)
	rows := specs(o.seed, sums, o.n)
	r.rows, err = measure(ctx, nd, rows, o.n, o.warm)
	if err != nil {
		return r, fmt.Errorf("%w\npacsd log:\n%s", err, nd.LogTail())
	}
	r.rss = nd.rss()
	return r, nil
}

func printReport(o options, res []engineResult) {
	fmt.Println()
	for _, r := range res {
		fmt.Printf("%-9s %d studies, %d instances loaded in %.0f s: %.0f objects/s (in-process Archive.Put, %d at once)\n",
			r.engine, r.loaded.Studies, r.loaded.Instances, r.loaded.Seconds, r.loadRate, o.workers)
	}
	if o.loadOnly {
		return
	}
	fmt.Println()
	header := fmt.Sprintf("%-38s", "row (ms)")
	for _, r := range res {
		header += fmt.Sprintf(" | %-8s %6s %6s %5s", r.engine, "p50", "p99", "n")
	}
	fmt.Println(header + " | target p99 (SQLite/PostgreSQL)")
	fmt.Println(strings.Repeat("-", utf8.RuneCountInString(header)+33))
	var names []string
	var targets [][2]float64
	for _, s := range specs(o.seed, []summary{{}}, 1) {
		names, targets = append(names, s.name), append(targets, s.target)
	}
	var notes []string
	for k, name := range names {
		line := pad(name, 38)
		for _, r := range res {
			if r.skipped != "" || k >= len(r.rows) {
				line += fmt.Sprintf(" | %-8s %6s %6s %5s", "", "-", "-", "")
				continue
			}
			row := r.rows[k]
			line += fmt.Sprintf(" | %-8s %6.1f %6.1f %5d", "", row.pct(50), row.pct(99), row.lastCount)
			if row.mismatches > 0 {
				notes = append(notes, fmt.Sprintf("%s on %s: %d of %d answers wrong, first: %s", name, r.engine, row.mismatches, len(row.durs), row.firstBad))
			}
		}
		fmt.Printf("%s | <%g / <%g\n", line, targets[k][0], targets[k][1])
	}
	line := fmt.Sprintf("%-38s", "start-up to listening (ms)")
	mem := fmt.Sprintf("%-38s", "RSS after the measurements (MB)")
	for _, r := range res {
		if r.skipped != "" {
			line += fmt.Sprintf(" | %-8s %19s", "", "-")
			mem += fmt.Sprintf(" | %-8s %19s", "", "-")
			continue
		}
		line += fmt.Sprintf(" | %-8s %19.0f", "", float64(r.startup)/1e6)
		mem += fmt.Sprintf(" | %-8s %19.0f", "", float64(r.rss)/(1<<20))
	}
	fmt.Println(line + " | <5000")
	fmt.Println(mem)
	for _, r := range res {
		if r.skipped != "" {
			notes = append(notes, r.engine+" not measured: "+r.skipped)
		}
	}
	slices.Sort(notes)
	for _, n := range notes {
		fmt.Println("  note:", n)
	}
	if len(res) > 0 {
		fmt.Printf("\n%d timed requests per row and node after %d warm-up; one client, requests in sequence; n: results in the last answer "+
			"(QIDO studies, C-FIND matches, worklist rows); PostgreSQL durable (fsync on)\n", o.n, o.warm)
	}
}

// pad left-aligns s in w terminal columns (a CJK character takes two).
func pad(s string, w int) string {
	cols := 0
	for _, r := range s {
		cols++
		if r >= 0x2E80 {
			cols++
		}
	}
	return s + strings.Repeat(" ", max(0, w-cols))
}
