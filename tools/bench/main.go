// Command bench measures DIMSE ingest: the same generated corpus sent by DCMTK's storescu
// to DCMTK's storescp, to pacsd on a folder, and to pacsd writing back to S3 (a MinIO server
// on loopback), on this machine, in one run, over 1 and 4 associations. It prints
// instances/s, MB/s and the ratios. `make bench` runs it.
//
// storescp writes files without fsync; pacsd fsyncs every object and commits the index
// before it answers. The ratio is therefore the price of durability plus indexing. With S3
// the acknowledgement comes once the object is in the local spool; the "drained" column is
// when the last upload was verified.
//
// Then it measures pacsd's peak RSS (VmHWM) while 8 associations each send a 100 MB US
// multi-frame object to the S3-backed pacsd, uploads included.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type workload struct {
	name   string
	files  []string
	bytes  int64
	assocs int
}

type result struct {
	target  string
	seconds float64
	drained float64 // S3: seconds until nothing was pending upload
	peakRSS int64   // bytes (VmHWM), when measured
}

// server is a started target: the process and, for pacsd, its HTTP base URL.
type server struct {
	cmd     *exec.Cmd
	httpURL string
}

func main() {
	large := flag.Int("large", 40, "large DR objects (~15 MB each)")
	small := flag.Int("small", 2000, "small objects (a few KB each)")
	work := flag.String("dir", ".cache/bench", "scratch folder (on the disk under test)")
	pacsd := flag.String("pacsd", "", "pacsd binary (default: go build ./cmd/pacsd)")
	gen := flag.String("gen", "", "gentestdata binary (default: go build ./tools/gentestdata)")
	flag.IntVar(&rssAssocs, "rss-assocs", 8, "memory run: parallel associations, one multi-frame object each (0 skips)")
	flag.IntVar(&rssMB, "rss-mb", 100, "memory run: size of each multi-frame object, MB")
	flag.Parse()
	if err := run(*large, *small, *work, *pacsd, *gen); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var rssAssocs, rssMB int

func run(large, small int, work, pacsdBin, genBin string) error {
	for _, tool := range []string{"storescu", "storescp"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: run `make deps` (installs DCMTK)", tool)
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	work, _ = filepath.Abs(work)
	if pacsdBin == "" {
		pacsdBin = filepath.Join(work, "pacsd")
		if err := goBuild(pacsdBin, "./cmd/pacsd"); err != nil {
			return err
		}
	}
	if genBin == "" {
		genBin = filepath.Join(work, "gentestdata")
		if err := goBuild(genBin, "./tools/gentestdata"); err != nil {
			return err
		}
	}
	corpus := filepath.Join(work, fmt.Sprintf("corpus-%d-%d", large, small))
	if _, err := os.Stat(corpus); err != nil {
		fmt.Printf("generating corpus: %d large + %d small objects in %s\n", large, small, corpus)
		if out, err := exec.Command(genBin, "-bench", corpus+".tmp", "-large", fmt.Sprint(large),
			"-small", fmt.Sprint(small), "-seed", "1").CombinedOutput(); err != nil {
			return fmt.Errorf("gentestdata: %v\n%s", err, out)
		}
		if err := os.Rename(corpus+".tmp", corpus); err != nil {
			return err
		}
	}
	largeFiles, largeBytes, smallFiles, smallBytes, err := scan(corpus)
	if err != nil {
		return err
	}
	var loads []workload
	for _, a := range []int{1, 4} {
		loads = append(loads,
			workload{name: fmt.Sprintf("large DR (%d x %.1f MB)", len(largeFiles), mb(largeBytes)/float64(max(1, len(largeFiles)))), files: largeFiles, bytes: largeBytes, assocs: a},
			workload{name: fmt.Sprintf("small (%d x %.1f KB)", len(smallFiles), mb(smallBytes)*1024/float64(max(1, len(smallFiles)))), files: smallFiles, bytes: smallBytes, assocs: a})
	}
	mio, err := startMinio(filepath.Join(work, "minio-data"))
	if err != nil {
		return err
	}
	defer func() { mio.stop(); os.RemoveAll(filepath.Join(work, "minio-data")) }()
	runs := 0
	pacsdTarget := func(s3 bool) func(dir, port string) (*server, error) {
		return func(dir, port string) (*server, error) {
			hp, err := freePort()
			if err != nil {
				return nil, err
			}
			args := []string{"--dicom-addr", "127.0.0.1:" + port, "--http-addr", "127.0.0.1:" + hp,
				"--data-dir", dir, "--aet", "BENCH", "--log-level", "warn", "--metrics-open"}
			cmd := exec.Command(pacsdBin, args...)
			if s3 {
				runs++
				cmd.Args = append(cmd.Args, "--s3-endpoint", mio.endpoint, "--s3-bucket", fmt.Sprintf("bench-%d", runs),
					"--cache-max-mb", "0")
				cmd.Env = append(os.Environ(), "PACSD_S3_ACCESS_KEY="+mio.accessKey, "PACSD_S3_SECRET_KEY="+mio.secretKey)
			}
			return &server{cmd: cmd, httpURL: "http://127.0.0.1:" + hp}, nil
		}
	}
	fmt.Printf("\n%-28s %6s %-9s %9s %9s %9s %7s %7s %9s\n", "workload", "assocs", "target", "seconds", "inst/s", "MB/s", "vs scp", "vs dir", "drained s")
	for _, w := range loads {
		if len(w.files) == 0 {
			continue
		}
		ref, err := timeTarget(work, "storescp", w, func(dir, port string) (*server, error) {
			return &server{cmd: exec.Command("storescp", "--fork", "-od", dir, "-aet", "BENCH", port)}, nil
		})
		if err != nil {
			return err
		}
		folder, err := timeTarget(work, "pacsd", w, pacsdTarget(false))
		if err != nil {
			return err
		}
		s3, err := timeTarget(work, "pacsd+s3", w, pacsdTarget(true))
		if err != nil {
			return err
		}
		for _, r := range []result{ref, folder, s3} {
			vsScp, vsDir, drained := "", "", ""
			if r.target != "storescp" {
				vsScp = fmt.Sprintf("%.2fx", ref.seconds/r.seconds)
			}
			if r.target == "pacsd+s3" {
				vsDir = fmt.Sprintf("%.2fx", folder.seconds/r.seconds)
				drained = fmt.Sprintf("%.2f", r.drained)
			}
			fmt.Printf("%-28s %6d %-9s %9.2f %9.1f %9.1f %7s %7s %9s\n", w.name, w.assocs, r.target, r.seconds,
				float64(len(w.files))/r.seconds, mb(w.bytes)/r.seconds, vsScp, vsDir, drained)
		}
	}
	fmt.Println("\nvs scp = throughput / storescp throughput; vs dir = S3-backed / folder-backed pacsd (same client, corpus, disk).")
	fmt.Println("pacsd fsyncs each object and commits the SQLite index before answering; storescp does neither.")
	fmt.Println("pacsd+s3 answers once the object is durable in the local spool; drained s = until the last upload was verified.")

	if rssAssocs > 0 {
		mf := filepath.Join(work, fmt.Sprintf("corpus-mf-%d-%d", rssAssocs, rssMB))
		if _, err := os.Stat(mf); err != nil {
			fmt.Printf("\ngenerating %d US multi-frame objects of %d MB in %s\n", rssAssocs, rssMB, mf)
			if out, err := exec.Command(genBin, "-multiframe", mf+".tmp", "-n", fmt.Sprint(rssAssocs),
				"-size", fmt.Sprint(rssMB), "-seed", "1").CombinedOutput(); err != nil {
				return fmt.Errorf("gentestdata: %v\n%s", err, out)
			}
			if err := os.Rename(mf+".tmp", mf); err != nil {
				return err
			}
		}
		files, fb, _, _, err := scan(mf)
		if err != nil {
			return err
		}
		w := workload{name: fmt.Sprintf("US multi-frame (%d x %.0f MB)", len(files), mb(fb)/float64(max(1, len(files)))),
			files: files, bytes: fb, assocs: len(files)}
		r, err := timeTarget(work, "pacsd+s3", w, pacsdTarget(true))
		if err != nil {
			return err
		}
		fmt.Printf("\nmemory: %s over %d associations to pacsd+s3: %.1f MB/s acknowledged, drained after %.2f s, peak RSS %.1f MB\n",
			w.name, w.assocs, mb(w.bytes)/r.seconds, r.drained, float64(r.peakRSS)/(1<<20))
	}
	return nil
}

func goBuild(out, pkg string) error {
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func scan(dir string) (large []string, lb int64, small []string, sb int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".dcm") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > 1<<20 {
			large, lb = append(large, p), lb+info.Size()
		} else {
			small, sb = append(small, p), sb+info.Size()
		}
		return nil
	})
	sort.Strings(large)
	sort.Strings(small)
	return
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), nil
}

// timeTarget starts a fresh server, sends the workload with storescu over w.assocs
// parallel associations and returns the wall time from first connect to last response.
func timeTarget(work, target string, w workload, start func(dir, port string) (*server, error)) (result, error) {
	dir := filepath.Join(work, "run-"+target)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return result{}, err
	}
	srv, err := start(dir, port)
	if err != nil {
		return result{}, err
	}
	cmd := srv.cmd
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("start %s: %w", target, err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitUp("127.0.0.1:" + port); err != nil {
		return result{}, fmt.Errorf("%s: %w", target, err)
	}
	groups := make([][]string, w.assocs)
	for i, f := range w.files {
		groups[i%w.assocs] = append(groups[i%w.assocs], f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, w.assocs)
	for _, g := range groups {
		wg.Add(1)
		go func(g []string) {
			defer wg.Done()
			args := append([]string{"-aec", "BENCH", "-R", "127.0.0.1", port}, g...)
			if out, err := exec.CommandContext(ctx, "storescu", args...).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("storescu -> %s: %v\n%s", target, err, tail(out))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(t0).Seconds()
	close(errs)
	for err := range errs {
		return result{}, err
	}
	r := result{target: target, seconds: elapsed}
	if strings.HasSuffix(target, "+s3") {
		for {
			v, err := metric(srv.httpURL, "pacsd_spool_pending_objects")
			if err != nil {
				return result{}, err
			}
			if v == 0 {
				break
			}
			if ctx.Err() != nil {
				return result{}, fmt.Errorf("%s: uploads not drained: %w", target, ctx.Err())
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.drained = time.Since(t0).Seconds()
	}
	if srv.httpURL != "" {
		r.peakRSS = peakRSS(cmd.Process.Pid)
	}
	return r, nil
}

// metric reads one value from pacsd's /metrics.
func metric(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found at %s", name, base)
}

// peakRSS is the process's resident set high-water mark (VmHWM), in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func waitUp(addr string) error {
	for i := 0; i < 400; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s never accepted connections", addr)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
