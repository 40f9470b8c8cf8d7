package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"pacsd/internal/pgtest"
)

// TestBenchScaleSmall runs the benchmark end to end at a small scale on each engine: a load
// stopped after part of the corpus, continued by a second -keep run to the whole corpus,
// then the real pacsd serving the data dir; every QIDO-RS and C-FIND answer must have
// exactly the studies the corpus says match, the worklist must answer, and the node must
// have started and been measured.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestBenchScaleSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs pacsd")
	}
	bin := filepath.Join(t.TempDir(), "pacsd")
	build := exec.Command("go", "build", "-o", bin, "pacsd/cmd/pacsd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const studies = 80
	want := int64(0)
	for i := 0; i < studies; i++ {
		want += int64(studyAt(1, i).instances)
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			o := options{dir: t.TempDir(), pacsd: bin, engines: []string{engine}, studies: studies / 2, chunk: 20,
				workers: 3, seed: 1, n: 8, warm: 1, keep: true, loadOnly: true}
			if engine == "postgres" {
				// A database that outlives the first run, for the second to continue it.
				o.pgURL = pgtest.DB(t)
			}
			if _, err := run(ctx, o); err != nil {
				t.Fatal(err)
			}
			o.studies, o.loadOnly = studies, false
			res, err := run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if r.loaded.Studies != studies || r.loaded.Instances != want {
				t.Fatalf("loaded %d studies, %d instances; want %d, %d", r.loaded.Studies, r.loaded.Instances, studies, want)
			}
			if r.skipped != "" {
				t.Fatalf("not measured: %s", r.skipped)
			}
			if r.startup <= 0 || r.rss <= 0 {
				t.Errorf("start-up %v, RSS %d: not measured", r.startup, r.rss)
			}
			rows := specs(o.seed, summarize(o.seed, studies), o.n)
			if len(r.rows) != len(rows) {
				t.Fatalf("%d rows measured, want %d", len(r.rows), len(rows))
			}
			for k, row := range r.rows {
				if len(row.durs) != o.n {
					t.Errorf("%s: %d timings, want %d", rows[k].name, len(row.durs), o.n)
				}
				if row.mismatches > 0 {
					t.Errorf("%s: %d wrong answers, first: %s", rows[k].name, row.mismatches, row.firstBad)
				}
				if rows[k].kind == "worklist" && k == len(rows)-3 && row.lastCount == 0 {
					t.Errorf("%s: no rows", rows[k].name)
				}
			}
		})
	}
}
