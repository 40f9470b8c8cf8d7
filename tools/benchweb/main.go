// Command benchweb measures pacsd's DICOMweb read side against Orthanc 1.10 with its
// DICOMweb plugin (both from this machine: pacsd built from ./cmd/pacsd, Orthanc and the
// plugin from Debian), loaded with the same generated corpus in the same run:
//
//   - QIDO-RS study searches at 10k studies: one PatientID, one week of StudyDate,
//     ModalitiesInStudy=DX&limit=50, the unfiltered first page (limit=100 on both, and
//     pacsd alone at its default of 1000: Orthanc has no default limit and would list all
//     10k); p50/p99 over sequential requests, the parameters varied across iterations and
//     the servers interleaved request by request, so the machine's changing load falls on
//     both alike;
//   - WADO-RS series metadata of a 500-instance series: the first (cold) request, then
//     p50/p99, without and with gzip;
//   - WADO-RS instance retrieval of ~15 MB DR objects, MB/s;
//   - QIDO-RS name searches (张*, 张伟, zhang*, fuzzy zhang), pacsd alone (Orthanc matches a
//     PN value against the whole name), the index's size dependence being
//     store/sqlite's BenchmarkNameSearch (10k vs 100k studies);
//   - C-FIND at the study level by PatientID, name prefix 张* and a week of StudyDate, from
//     pacsd's own SCU (dimse.Client.Find) to both servers.
//
// Every answer is checked against the corpus plan (the studies that must match), so a fast
// wrong answer shows as a mismatch rather than as a win. `make bench` runs it.
//
// The corpus (10k studies of 64x64 images with varied patients, names in three forms,
// dates over two years, DX/CR/US/CT/MG/OT) is generated deterministically from -seed with
// pacsd's own dicom encoder and cached under -dir; both servers get it over DIMSE from
// pacsd's own SCU (what `pacsd send` runs), which sends the files' data sets untouched.
// Loading takes most of a run; -keep keeps both servers' data for the next -keep run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"pacsd/internal/cputime"
	"pacsd/tools/internal/benchkit"
)

type options struct {
	dir, pacsd, orthanc, plugin string
	studies, bigSeries, large   int
	seed                        uint64
	assocs                      int
	n, metaN, rounds, warm      int
	minN                        int
	spent                       time.Duration
	keep, serialLoad            bool
	rows                        *regexp.Regexp // the rows measured (-rows)
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".cache/benchweb", "scratch folder: corpus cache and the servers' data")
	flag.StringVar(&o.pacsd, "pacsd", "", "pacsd binary (default: go build ./cmd/pacsd)")
	flag.StringVar(&o.orthanc, "orthanc", "/usr/sbin/Orthanc", "Orthanc binary (Debian package orthanc)")
	flag.StringVar(&o.plugin, "orthanc-plugin", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "Orthanc's DICOMweb plugin (Debian package orthanc-dicomweb)")
	flag.IntVar(&o.studies, "studies", 10000, "studies in the corpus, all kinds included")
	flag.IntVar(&o.bigSeries, "series-size", 500, "instances in the series whose metadata is measured")
	flag.IntVar(&o.large, "large", 4, "~15 MB DR objects for retrieval MB/s")
	flag.Uint64Var(&o.seed, "seed", 1, "corpus seed")
	flag.IntVar(&o.assocs, "assocs", 4, "parallel DIMSE associations per server while loading")
	flag.IntVar(&o.n, "n", 200, "QIDO: timed requests per query and server (at most)")
	flag.IntVar(&o.metaN, "meta-n", 50, "metadata: timed requests per server (at most)")
	flag.IntVar(&o.rounds, "rounds", 5, "retrieval: times each large object is fetched")
	flag.IntVar(&o.warm, "warm", 3, "untimed warm-up requests before each QIDO measurement")
	flag.IntVar(&o.minN, "min-n", 10, "fewest timed requests per measurement, whatever the time")
	flag.DurationVar(&o.spent, "budget", 15*time.Second, "time per measurement and server after which no new request starts (once -min-n are done)")
	flag.BoolVar(&o.serialLoad, "serial-load", false, "load one server after the other (their ingest times are then comparable)")
	flag.BoolVar(&o.keep, "keep", false, "keep the loaded servers' data; a later run with -keep reuses it and skips loading")
	rows := flag.String("rows", "", "measure only the rows whose name matches this regular expression (e.g. 'PatientName' for the name searches and C-FIND by name)")
	flag.Parse()
	var err error
	if o.rows, err = regexp.Compile(*rows); err != nil {
		fmt.Fprintln(os.Stderr, "benchweb: -rows:", err)
		os.Exit(2)
	}
	if err := benchmark(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchweb:", err)
		os.Exit(1)
	}
}

func benchmark(o options) error {
	t0 := time.Now()
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	work, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	fmt.Printf("benchweb: %d CPUs, load average %s, %s\n", runtime.NumCPU(), benchkit.Loadavg(), runtime.Version())
	if o.pacsd == "" {
		o.pacsd = filepath.Join(work, "pacsd")
		// A fresh build each run: the benchmark must measure the tree as it is.
		if b, err := exec.Command("go", "build", "-o", o.pacsd, "./cmd/pacsd").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/pacsd: %v\n%s", err, b)
		}
	}

	name := fmt.Sprintf("corpus-v%d-%d-%d-%d-s%d", corpusVersion, o.studies, o.bigSeries, o.large, o.seed)
	c := planCorpus(filepath.Join(work, name), o.studies, o.bigSeries, o.large, o.seed)
	nStudies, nInstances := c.counts()
	// A marker written last says the folder is complete: an interrupted generation is
	// started over rather than measured.
	complete := filepath.Join(c.dir, "complete")
	if _, err := os.Stat(complete); err != nil {
		fmt.Printf("generating %s: %d studies, %d instances\n", name, nStudies, nInstances)
		os.RemoveAll(c.dir)
		g0 := time.Now()
		if err := c.write(); err != nil {
			return fmt.Errorf("generate corpus: %w", err)
		}
		if err := os.WriteFile(complete, nil, 0o644); err != nil {
			return err
		}
		fmt.Printf("generated in %.1f s\n", time.Since(g0).Seconds())
	}
	multi := map[string]int{}
	for _, st := range c.studies {
		multi[c.patients[st.patient].id]++
	}
	several := 0
	for _, n := range multi {
		if n > 1 {
			several++
		}
	}
	fmt.Printf("corpus: %d studies, %d instances, %d patients (%d with several studies), one %d-instance series, %d large objects\n",
		nStudies, nInstances, len(c.patients), several, o.bigSeries, o.large)

	// Both servers keep their data under one folder per corpus, so -keep can reuse it.
	runDir := filepath.Join(work, "run-"+name)
	loaded := filepath.Join(runDir, "loaded")
	reuse := false
	if _, err := os.Stat(loaded); err == nil && o.keep {
		reuse = true
	} else {
		os.RemoveAll(runDir)
	}
	if !o.keep {
		defer os.RemoveAll(runDir)
	}
	p, err := startPacsd(o.pacsd, filepath.Join(runDir, "pacsd"))
	if err != nil {
		return err
	}
	defer p.stop()
	orth, err := startOrthanc(o.orthanc, o.plugin, filepath.Join(runDir, "orthanc"))
	if err != nil {
		return err
	}
	defer orth.stop()
	if v, err := versionLine(o.orthanc); err == nil {
		fmt.Printf("Orthanc: %s, DICOMweb plugin %s\n", v, pluginVersion(orth))
	}

	if !reuse {
		// Both load at once by default: the load is not what is measured here (tools/bench
		// measures ingest), and one after the other would nearly double the wall time.
		fmt.Printf("loading both servers over DIMSE, %d associations each ...\n", o.assocs)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		loadOne := func(s *server) error {
			l0 := time.Now()
			if err := load(ctx, c, s, o.assocs); err != nil {
				return fmt.Errorf("%w\n%s log (%s):\n%s", err, s.name, s.Log, s.LogTail())
			}
			how := "loads overlapped"
			if o.serialLoad {
				how = "alone"
			}
			secs := time.Since(l0).Seconds()
			fmt.Printf("  %s: %d instances acknowledged in %.1f s, %.0f/s (%s)\n", s.name, nInstances, secs, float64(nInstances)/secs, how)
			return nil
		}
		if o.serialLoad {
			for _, s := range []*server{p, orth} {
				if err := loadOne(s); err != nil {
					return err
				}
			}
		} else {
			done := make(chan error, 2)
			for _, s := range []*server{p, orth} {
				go func() { done <- loadOne(s) }()
			}
			for range 2 {
				if err := <-done; err != nil {
					return err
				}
			}
		}
		if err := os.WriteFile(loaded, nil, 0o644); err != nil {
			return err
		}
	}
	// Both index before they acknowledge; this is the check that everything is searchable.
	for _, s := range []*server{p, orth} {
		n, err := countStudies(s)
		if err != nil {
			return err
		}
		if n != nStudies {
			return fmt.Errorf("%s lists %d studies over QIDO-RS, want %d", s.name, n, nStudies)
		}
	}
	fmt.Printf("both list %d studies over QIDO-RS; load average %s\n", nStudies, benchkit.Loadavg())
	// Steady state: pacsd makes thumbnails and metadata records of new objects in the
	// background after ingest; queries measured while 22,000 of them are being made would
	// measure that work. Wait for its queues to empty (they are on /metrics).
	start := time.Now()
	if err := waitBackground(p.base, 10*time.Minute); err != nil {
		return err
	}
	fmt.Printf("pacsd's background work after ingest (thumbnails, metadata) done %.0f s later; load average %s\n",
		time.Since(start).Seconds(), benchkit.Loadavg())

	rows, err := measureAll(o, c, p, orth)
	if err != nil {
		return err
	}
	printTable(rows)
	fmt.Printf("\npeak RSS: pacsd %.0f MB, Orthanc %.0f MB; load average at the end %s; whole run %.0f s\n",
		float64(p.peakRSS())/(1<<20), float64(orth.peakRSS())/(1<<20), benchkit.Loadavg(), time.Since(t0).Seconds())
	return nil
}

// row is one line of the result table.
type row struct {
	name   string
	unit   string // "ms" (latency: p50/p99) or "MB/s"
	p, o   stats
	skipO  string // why Orthanc was not measured on this row
	mbps   [2]float64
	target string // the target for this row
	note   string // printed under the row
}

func measureAll(o options, c *corpus, p, orth *server) ([]row, error) {
	// One client for everything, as a script or viewer would hold: keep-alive, requests in
	// sequence. No Accept-Encoding unless a row says so (the gzip row): on loopback
	// compression only costs, and both servers then do the same work.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 2}}
	const jsonAccept = "application/dicom+json"
	qido := fetcher{client: client, accept: jsonAccept}
	b := budget{maxN: o.n, minN: o.minN, warm: o.warm, spent: o.spent}
	ids := c.patientIDs(o.n + o.warm)
	wks := weeks(o.n+o.warm, o.seed)
	expects := map[string]map[string]bool{}
	expect := func(q string) map[string]bool {
		if e, ok := expects[q]; ok {
			return e
		}
		expects[q] = c.expect(q)
		return expects[q]
	}
	type qrow struct {
		name   string
		query  func(i int) string
		limit  int // the limit the answer must respect (0: none)
		orth   bool
		target string
	}
	qrows := []qrow{
		{"QIDO PatientID=<one>", func(i int) string { return "PatientID=" + ids[i] }, 0, true, "p99<10ms, 3x"},
		{"QIDO StudyDate=<one week>", func(i int) string { return "StudyDate=" + wks[i] }, 0, true, "p99<10ms, 3x"},
		{"QIDO ModalitiesInStudy=DX&limit=50", func(int) string { return "ModalitiesInStudy=DX&limit=50" }, 50, true, "p99<10ms, 3x"},
		{"QIDO unfiltered limit=100", func(int) string { return "limit=100" }, 100, true, "p99<10ms, 3x"},
		{"QIDO unfiltered, no limit (pacsd: 1000)", func(int) string { return "" }, 1000, false, ""},
		// Name searches (issue 15): pacsd alone, Orthanc matches a PN value against the
		// whole name (张* misses Zhang^Wei=张^伟) and has no fuzzy matching.
		{"QIDO PatientName=张*", func(int) string { return "PatientName=张*" }, 0, false, "p99<10ms"},
		{"QIDO PatientName=张伟", func(int) string { return "PatientName=张伟" }, 0, false, "p99<10ms"},
		{"QIDO PatientName=zhang*", func(int) string { return "PatientName=zhang*" }, 0, false, "p99<10ms"},
		{"QIDO PatientName=zhang, fuzzy", func(int) string { return "PatientName=zhang&fuzzymatching=true" }, 0, false, "p99<10ms"},
	}
	var rows []row
	for _, q := range qrows {
		if !o.rows.MatchString(q.name) {
			continue
		}
		fmt.Printf("measuring %s ...\n", q.name)
		r := row{name: q.name, unit: "ms", target: q.target}
		servers := []*server{p, orth}
		if !q.orth {
			servers, r.skipO = servers[:1], "would list all"
			if strings.HasPrefix(q.query(0), "PatientName") {
				r.skipO = "other PN rule"
			}
		}
		var urls []func(int) string
		for _, s := range servers {
			urls = append(urls, func(i int) string { return qidoURL(s.web, "/studies", q.query(i)) })
		}
		cpu := cpuMeter(servers)
		st, err := run(qido, b, urls, func(i int, body []byte) error { return checkStudies(body, expect(q.query(i)), q.limit) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.name, err)
		}
		r.note = cpu(st, b.warm)
		r.p = st[0]
		if len(st) > 1 {
			r.o = st[1]
		}
		rows = append(rows, r)
	}

	// C-FIND at the study level (issue 14): by Patient ID, by name prefix, by a week of
	// dates, from one SCU to both servers.
	ctx := context.Background()
	var fs []*finder
	for _, s := range []*server{p, orth} {
		f, err := dialFinder(ctx, s)
		if err != nil {
			return nil, err
		}
		defer f.c.Release(ctx)
		fs = append(fs, f)
	}
	frows := []struct {
		name  string
		query func(i int) findQuery
		qido  func(i int) string // the same query in QIDO-RS terms, for the plan's answer
	}{
		{"C-FIND PatientID=<one>", func(i int) findQuery { return findQuery{PatientID: ids[i]} },
			func(i int) string { return "PatientID=" + ids[i] }},
		{"C-FIND PatientName=张*", func(int) findQuery { return findQuery{PatientName: "张*"} },
			func(int) string { return "PatientName=张*" }},
		{"C-FIND StudyDate=<one week>", func(i int) findQuery { return findQuery{StudyDate: wks[i]} },
			func(i int) string { return "StudyDate=" + wks[i] }},
	}
	for _, q := range frows {
		if !o.rows.MatchString(q.name) {
			continue
		}
		fmt.Printf("measuring %s ...\n", q.name)
		cpu := cpuMeter([]*server{p, orth})
		st, counts, err := runFind(ctx, b, fs, q.query, func(i int) map[string]bool { return expect(q.qido(i)) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.name, err)
		}
		r := row{name: q.name, unit: "ms", p: st[0], o: st[1], target: "p99<20ms, 10x", note: cpu(st, b.warm)}
		if counts[0] != counts[1] {
			r.note += fmt.Sprintf("; last query: pacsd %d matches, Orthanc %d", counts[0], counts[1])
		}
		rows = append(rows, r)
	}

	// Series metadata of the big series: the first request since the server started is
	// cold (pacsd builds its cached metadata then), the rest warm.
	if !o.rows.MatchString("series metadata") {
		return rows, nil
	}
	fmt.Println("measuring series metadata ...")
	st, se := c.big, c.big.series[0]
	metaURLs := []func(int) string{
		func(int) string { return fmt.Sprintf("%s/studies/%s/series/%s/metadata", p.web, st.uid, se.uid) },
		func(int) string { return fmt.Sprintf("%s/studies/%s/series/%s/metadata", orth.web, st.uid, se.uid) },
	}
	checkMeta := func(_ int, body []byte) error {
		var list []map[string]any
		if err := json.Unmarshal(body, &list); err != nil {
			return fmt.Errorf("metadata not a DICOM JSON array: %w", err)
		}
		if len(list) != len(se.instances) {
			return fmt.Errorf("metadata of %d instances, want %d", len(list), len(se.instances))
		}
		return nil
	}
	n := len(se.instances)
	cold, err := run(qido, budget{maxN: 1, minN: 1}, metaURLs, checkMeta)
	if err != nil {
		return nil, fmt.Errorf("series metadata: %w", err)
	}
	mb := budget{maxN: o.metaN, minN: o.minN, warm: 1, spent: o.spent}
	warm, err := run(qido, mb, metaURLs, checkMeta)
	if err != nil {
		return nil, fmt.Errorf("series metadata: %w", err)
	}
	warmGz, err := run(fetcher{client: client, accept: jsonAccept, gzip: true}, mb, metaURLs, checkMeta)
	if err != nil {
		return nil, fmt.Errorf("series metadata (gzip): %w", err)
	}
	rows = append(rows,
		row{name: fmt.Sprintf("series metadata, %d inst., first request", n), unit: "ms", p: cold[0], o: cold[1]},
		row{name: fmt.Sprintf("series metadata, %d inst.", n), unit: "ms", p: warm[0], o: warm[1], target: "p50<30ms, 3x"},
		row{name: fmt.Sprintf("series metadata, %d inst., gzip", n), unit: "ms", p: warmGz[0], o: warmGz[1]})

	// Instance retrieval: each large object o.rounds times, interleaved between the
	// servers, after one untimed pass (so both read from the page cache); MB/s over the
	// response bodies.
	if len(c.large) == 0 || !o.rows.MatchString("WADO-RS instance") {
		return rows, nil
	}
	fmt.Println("measuring instance retrieval ...")
	type inst struct {
		st      *studyPlan
		se      *seriesPlan
		in      *instancePlan
		tail    []byte
		fileLen int64
	}
	var large []inst
	for _, st := range c.large {
		for _, in := range st.series[0].instances {
			tail, size, err := fileTail(in.path, 4096)
			if err != nil {
				return nil, err
			}
			large = append(large, inst{st, st.series[0], in, tail, size})
		}
	}
	wado := fetcher{client: client, accept: `multipart/related; type="application/dicom"; transfer-syntax=*`}
	var urls []func(int) string
	for _, s := range []*server{p, orth} {
		urls = append(urls, func(i int) string {
			x := large[i%len(large)]
			return fmt.Sprintf("%s/studies/%s/series/%s/instances/%s", s.web, x.st.uid, x.se.uid, x.in.uid)
		})
	}
	if _, err := run(wado, budget{maxN: len(large), minN: len(large)}, urls, nil); err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	rn := o.rounds * len(large)
	ret, err := run(wado, budget{maxN: rn, minN: rn}, urls, func(i int, body []byte) error {
		x := large[i%len(large)]
		if int64(len(body)) < x.fileLen-1024 || !containsTail(body, x.tail) {
			return fmt.Errorf("body of %d bytes does not carry the stored object (%d bytes)", len(body), x.fileLen)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	r := row{name: fmt.Sprintf("WADO-RS instance, %d x %.1f MB", len(large), float64(large[0].fileLen)/1e6),
		unit: "MB/s", p: ret[0], o: ret[1], target: "3x"}
	for k, s := range ret {
		r.mbps[k] = float64(s.bytes) / 1e6 / s.total().Seconds()
	}
	return append(rows, r), nil
}

// cpuMeter starts counting the servers' CPU time; the function it returns says, once a
// row is measured, each server's CPU per request (its warm-up requests included).
func cpuMeter(servers []*server) func(st []stats, warm int) string {
	start := make([]time.Duration, len(servers))
	for i, s := range servers {
		start[i] = cputime.Of(s.Cmd.Process.Pid)
	}
	return func(st []stats, warm int) string {
		var parts []string
		for i, s := range servers {
			if i < len(st) && st[i].n() > 0 {
				per := (cputime.Of(s.Cmd.Process.Pid) - start[i]) / time.Duration(st[i].n()+warm)
				parts = append(parts, fmt.Sprintf("%s %.1f", s.name, ms(per)))
			}
		}
		return "server CPU ms per request: " + strings.Join(parts, ", ")
	}
}

// fileTail returns the last n bytes of a file and its size.
func fileTail(path string, n int64) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	tail := make([]byte, min(n, fi.Size()))
	if _, err := f.ReadAt(tail, fi.Size()-int64(len(tail))); err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return tail, fi.Size(), nil
}

func containsTail(body, tail []byte) bool {
	// The pixel data's last bytes sit at the end of the object, before the multipart
	// closing boundary; search only the last part of the body.
	if len(body) > 64<<10 {
		body = body[len(body)-64<<10:]
	}
	return strings.Contains(string(body), string(tail))
}

func printTable(rows []row) {
	fmt.Printf("\n%-42s | %4s %9s %7s %7s | %4s %9s %7s %7s | %7s %7s | %-10s %s\n",
		"query", "n", "pacsd p50", "p99", "KB", "n", "Orth. p50", "p99", "KB", "x p50", "x p99", "target", "check")
	fmt.Println(strings.Repeat("-", 144))
	for _, r := range rows {
		check := "ok"
		var warn []string
		for _, x := range []struct {
			who string
			s   stats
		}{{"pacsd", r.p}, {"Orthanc", r.o}} {
			if x.s.mismatches > 0 {
				check = "MISMATCH"
				warn = append(warn, fmt.Sprintf("WARNING %s, %s: %d of %d answers wrong; first: %s", r.name, x.who, x.s.mismatches, x.s.n(), x.s.firstBad))
			}
		}
		if r.unit == "MB/s" {
			ratio := r.mbps[0] / r.mbps[1]
			fmt.Printf("%-42s | %4d %12.0f MB/s %7.0f | %4d %12.0f MB/s %7.0f | %15s | %-10s %s\n",
				r.name, r.p.n(), r.mbps[0], r.p.kb(), r.o.n(), r.mbps[1], r.o.kb(), fmt.Sprintf("%.2fx", ratio), verdict(r.target, math.NaN(), ratio, ratio), check)
		} else {
			on, o50, o99, okb, x50, x99 := "", "", "", "", "", ""
			if r.skipO != "" {
				o50 = "(" + r.skipO + ")"
			} else {
				on, okb = fmt.Sprint(r.o.n()), fmt.Sprintf("%.0f", r.o.kb())
				o50, o99 = fmt.Sprintf("%.1f", r.o.pct(50)), fmt.Sprintf("%.1f", r.o.pct(99))
				x50, x99 = fmt.Sprintf("%.1fx", r.o.pct(50)/r.p.pct(50)), fmt.Sprintf("%.1fx", r.o.pct(99)/r.p.pct(99))
			}
			v := ""
			if r.target != "" && r.skipO != "" {
				v = verdict(r.target, r.p.pct(50), math.Inf(1), r.p.pct(99)) // no ratio to judge
			} else if r.target != "" {
				v = verdict(r.target, r.p.pct(50), r.o.pct(50)/r.p.pct(50), r.p.pct(99))
			}
			fmt.Printf("%-42s | %4d %9.1f %7.1f %7.0f | %4s %9s %7s %7s | %7s %7s | %-10s %s\n",
				r.name, r.p.n(), r.p.pct(50), r.p.pct(99), r.p.kb(), on, o50, o99, okb, x50, x99, v, check)
		}
		for _, w := range warn {
			fmt.Println("  " + w)
		}
		if r.note != "" {
			fmt.Println("  " + r.note)
		}
	}
	fmt.Println("\nms from sending the request to the last body byte, sequential requests on one keep-alive connection,")
	fmt.Println("after warm-up; KB = mean response body (gzip rows: as received, compressed); x = Orthanc time /")
	fmt.Println("pacsd time (retrieval: pacsd MB/s / Orthanc MB/s). n = timed requests")
	fmt.Println("(fewer for a slow server: each measurement stops starting requests after -budget). check = every answer")
	fmt.Println("matched the corpus plan (the exact set of matching studies; limit honoured; all instances in metadata).")
}

// verdict judges a row against its target: "p99<10ms, 3x" (QIDO), "p50<30ms, 3x" (metadata),
// "3x" (retrieval). p50 and p99 are pacsd's; ratio is how many times faster pacsd is. It
// names what was missed.
func verdict(target string, p50, ratio, p99 float64) string {
	var missed []string
	switch {
	case strings.HasPrefix(target, "p99<10ms") && !(p99 < 10):
		missed = append(missed, "p99")
	case strings.HasPrefix(target, "p50<30ms") && !(p50 < 30):
		missed = append(missed, "p50")
	case strings.HasPrefix(target, "p99<20ms") && !(p99 < 20):
		missed = append(missed, "p99")
	}
	switch {
	case strings.HasSuffix(target, "10x") && !(ratio >= 10):
		missed = append(missed, "10x")
	case strings.HasSuffix(target, "3x") && !(ratio >= 3):
		missed = append(missed, "3x")
	}
	if len(missed) == 0 {
		return "met"
	}
	return "MISSED " + strings.Join(missed, "+")
}

// waitBackground waits until pacsd's thumbnail and metadata queues are empty and the
// archive idle for a few seconds in a row.
func waitBackground(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	quiet := 0
	for quiet < 3 {
		if time.Now().After(deadline) {
			return fmt.Errorf("pacsd's background queues did not empty in %s", limit)
		}
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return fmt.Errorf("pacsd metrics: %w", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("pacsd metrics: %w", err)
		}
		busy := false
		for _, line := range strings.Split(string(body), "\n") {
			for _, m := range []string{"pacsd_thumbnails_queued ", "pacsd_thumbnails_series_queued ",
				"pacsd_metadata_queued ", "pacsd_metadata_series_queued "} {
				if v, ok := strings.CutPrefix(line, m); ok && v != "0" {
					busy = true
				}
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		time.Sleep(time.Second)
	}
	return nil
}

func versionLine(bin string) (string, error) {
	b, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// pluginVersion asks Orthanc which DICOMweb plugin it loaded (GET /plugins/dicom-web).
func pluginVersion(s *server) string {
	b, code, err := get(http.DefaultClient, s.base+"/plugins/dicom-web", "application/json")
	if err != nil || code != http.StatusOK {
		return "?"
	}
	var v struct{ Version string }
	if json.Unmarshal(b, &v) != nil {
		return "?"
	}
	return v.Version
}
