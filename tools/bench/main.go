// Command bench measures DIMSE ingest: the same generated corpus sent by DCMTK's storescu
// to DCMTK's storescp, to Orthanc 1.10 (its default SQLite index and folder storage), to
// pacsd on a folder, and to pacsd writing back to S3 (a MinIO server on loopback), on this
// machine, in one run. The workloads are a township's: large DR (15 MB), ultrasound (stills
// and cines), small objects (on 1 and 4 associations) and 512x512 CT. It prints
// instances/s, MB/s, the ratios to storescp and Orthanc, and the server's CPU time (user +
// system from /proc/<pid>/stat, before and after the transfer). `make bench` runs it.
//
// storescp writes files without fsync, and Orthanc without fsync of the index; pacsd fsyncs
// every object and commits its index before it answers. The ratios are therefore the price
// of durability plus indexing. With S3 the acknowledgement comes once the object is in the
// local spool; the "drained" column is when the last upload was verified.
//
// Every DICOM peer runs with TCP_NODELAY=1 in its environment, DCMTK's switch that turns
// off Nagle's algorithm (the Debian build leaves it on): without it each small object on
// one association waits for a delayed ACK, some 40 ms, and every target measures that.
// pacsd (Go) sets TCP_NODELAY itself. Orthanc also gets its usual tuning: UTF-8 as the
// default character set.
//
// Then it measures pacsd's peak RSS (VmHWM) while 8 associations each send a 100 MB US
// multi-frame object to the S3-backed pacsd, uploads included.
//
// With -cluster it measures instead what issue 20 asks of pacsd's cluster mode: the
// small-object rate of two nodes sharing one PostgreSQL and one MinIO bucket against one
// node, each process's CPU and each node's memory (cluster.go; `make bench-cluster`).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"pacsd/internal/cputime"
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
	cpu     float64 // server CPU seconds (user + system) during the transfer; < 0 when not measured
}

// server is a started target: the process, the URL that answers once it is up (pacsd's
// /metrics, Orthanc's /system), and whether its CPU time can be read from its own
// /proc/<pid>/stat (not storescp --fork, whose children do the work).
type server struct {
	cmd     *exec.Cmd
	httpURL string
	probe   string
	cpu     bool
}

// nodelay is the environment of a DCMTK process with Nagle's algorithm off (see the
// package comment).
func nodelay() []string { return append(os.Environ(), "TCP_NODELAY=1") }

func main() {
	var c corpusSize
	flag.IntVar(&c.large, "large", 30, "large DR objects (~15 MB each)")
	flag.IntVar(&c.small, "small", 6000, "small objects (a few KB each)")
	flag.IntVar(&c.us, "us", 20, "ultrasound objects (640x480 RGB stills, one in four a 37 MB cine)")
	flag.IntVar(&c.ct, "ct", 200, "CT slices (512x512 16-bit)")
	work := flag.String("dir", ".cache/bench", "scratch folder (on the disk under test)")
	pacsd := flag.String("pacsd", "", "pacsd binary (default: go build ./cmd/pacsd)")
	gen := flag.String("gen", "", "gentestdata binary (default: go build ./tools/gentestdata)")
	flag.StringVar(&orthancBin, "orthanc", "/usr/sbin/Orthanc", "Orthanc binary (Debian package orthanc); empty skips Orthanc")
	flag.BoolVar(&withS3, "s3", true, "also measure pacsd writing back to S3 (MinIO)")
	flag.IntVar(&rssAssocs, "rss-assocs", 8, "memory run: parallel associations, one multi-frame object each (0 skips)")
	flag.IntVar(&rssMB, "rss-mb", 100, "memory run: size of each multi-frame object, MB")
	cluster := flag.Bool("cluster", false, "instead: small-object ingest into one and two pacsd nodes in cluster mode (PostgreSQL + MinIO) and one on SQLite (-small objects each, -assocs associations)")
	assocs := flag.Int("assocs", 8, "-cluster: parallel associations, alternating between the nodes")
	flag.Parse()
	if *cluster {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		_, err := runCluster(ctx, os.Stdout, clusterOptions{small: c.small, assocs: *assocs, work: *work, pacsd: *pacsd, gen: *gen})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench -cluster:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(c, *work, *pacsd, *gen); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var (
	rssAssocs, rssMB int
	orthancBin       string
	withS3           bool
)

type corpusSize struct{ large, small, us, ct int }

func run(c corpusSize, work, pacsdBin, genBin string) error {
	for _, tool := range []string{"storescu", "storescp"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: run `make deps` (installs DCMTK)", tool)
		}
	}
	if orthancBin != "" {
		if _, err := os.Stat(orthancBin); err != nil {
			return fmt.Errorf("orthanc: %w (run `make deps`, or -orthanc '' to skip it)", err)
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	work, _ = filepath.Abs(work)
	pacsdBin, genBin, err := buildTools(work, pacsdBin, genBin)
	if err != nil {
		return err
	}
	corpus, err := genCorpus(os.Stdout, genBin, work, c)
	if err != nil {
		return err
	}
	var loads []workload
	for _, k := range []struct {
		sub, name string
		assocs    []int
	}{{"large", "DR", []int{1}}, {"us", "US", []int{1}}, {"small", "small", []int{1, 4}}, {"ct", "CT", []int{1}}} {
		files, bytes, err := scan(filepath.Join(corpus, k.sub))
		if err != nil {
			return err
		}
		if len(files) == 0 {
			continue
		}
		name := fmt.Sprintf("%s (%d x %s)", k.name, len(files), meanSize(bytes, len(files)))
		for _, a := range k.assocs {
			loads = append(loads, workload{name: name, files: files, bytes: bytes, assocs: a})
		}
	}
	var mio *minioServer
	if withS3 {
		var err error
		if mio, err = startMinio(filepath.Join(work, "minio-data")); err != nil {
			return err
		}
		defer func() { mio.stop(); os.RemoveAll(filepath.Join(work, "minio-data")) }()
	}
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
			return &server{cmd: cmd, httpURL: "http://127.0.0.1:" + hp, cpu: true}, nil
		}
	}
	storescp := func(dir, port string) (*server, error) {
		cmd := exec.Command("storescp", "--fork", "-od", dir, "-aet", "BENCH", port)
		cmd.Env = nodelay()
		return &server{cmd: cmd}, nil
	}
	targets := []struct {
		name  string
		start func(dir, port string) (*server, error)
	}{{"storescp", storescp}}
	if orthancBin != "" {
		targets = append(targets, struct {
			name  string
			start func(dir, port string) (*server, error)
		}{"Orthanc", startOrthanc})
	}
	targets = append(targets, struct {
		name  string
		start func(dir, port string) (*server, error)
	}{"pacsd", pacsdTarget(false)})
	if withS3 {
		targets = append(targets, struct {
			name  string
			start func(dir, port string) (*server, error)
		}{"pacsd+s3", pacsdTarget(true)})
	}
	fmt.Printf("\n%-24s %6s %-9s %8s %8s %8s %7s %7s %7s %8s %9s\n", "workload", "assocs", "target", "seconds",
		"inst/s", "MB/s", "vs scp", "vs Orth", "CPU s", "CPU ms/i", "drained s")
	for _, w := range loads {
		var res []result
		for _, t := range targets {
			r, err := timeTarget(work, t.name, w, t.start)
			if err != nil {
				return err
			}
			res = append(res, r)
		}
		ref, orth := res[0], result{}
		for _, r := range res {
			if r.target == "Orthanc" {
				orth = r
			}
		}
		for _, r := range res {
			vsScp, vsOrth, cpu, cpuPer, drained := "", "", "-", "-", ""
			if r.target != "storescp" {
				vsScp = fmt.Sprintf("%.2fx", ref.seconds/r.seconds)
			}
			if orth.seconds > 0 && r.target != "Orthanc" && r.target != "storescp" {
				vsOrth = fmt.Sprintf("%.2fx", orth.seconds/r.seconds)
			}
			if r.cpu >= 0 {
				cpu = fmt.Sprintf("%.2f", r.cpu)
				cpuPer = fmt.Sprintf("%.3f", r.cpu*1000/float64(len(w.files)))
			}
			if r.target == "pacsd+s3" {
				drained = fmt.Sprintf("%.2f", r.drained)
			}
			fmt.Printf("%-24s %6d %-9s %8.2f %8.1f %8.1f %7s %7s %7s %8s %9s\n", w.name, w.assocs, r.target, r.seconds,
				float64(len(w.files))/r.seconds, mb(w.bytes)/r.seconds, vsScp, vsOrth, cpu, cpuPer, drained)
		}
	}
	fmt.Println("\nvs scp, vs Orth = throughput / storescp's or Orthanc's throughput in this run (same client, corpus, disk).")
	fmt.Println("CPU = the server process's user + system time during the transfer (storescp --fork: not measured).")
	fmt.Println("pacsd fsyncs each object and commits the SQLite index before answering; storescp and Orthanc do not fsync.")
	if withS3 {
		fmt.Println("pacsd+s3 answers once the object is durable in the local spool; drained s = until the last upload was verified.")
	}
	fmt.Printf("load average at the end: %s\n", loadAverage())

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
		files, fb, err := scan(mf)
		if err != nil {
			return err
		}
		w := workload{name: fmt.Sprintf("US multi-frame (%d x %.0f MB)", len(files), mb(fb)/float64(max(1, len(files)))),
			files: files, bytes: fb, assocs: len(files)}
		if !withS3 {
			return nil
		}
		r, err := timeTarget(work, "pacsd+s3", w, pacsdTarget(true))
		if err != nil {
			return err
		}
		fmt.Printf("\nmemory: %s over %d associations to pacsd+s3: %.1f MB/s acknowledged, drained after %.2f s, peak RSS %.1f MB\n",
			w.name, w.assocs, mb(w.bytes)/r.seconds, r.drained, float64(r.peakRSS)/(1<<20))
	}
	return nil
}

// buildTools builds pacsd and gentestdata into work unless their binaries were given.
func buildTools(work, pacsdBin, genBin string) (string, string, error) {
	if pacsdBin == "" {
		pacsdBin = filepath.Join(work, "pacsd")
		if err := goBuild(pacsdBin, "pacsd/cmd/pacsd"); err != nil {
			return "", "", err
		}
	}
	if genBin == "" {
		genBin = filepath.Join(work, "gentestdata")
		if err := goBuild(genBin, "pacsd/tools/gentestdata"); err != nil {
			return "", "", err
		}
	}
	return pacsdBin, genBin, nil
}

// genCorpus writes the corpus of size c under work once (seed 1: the same files every run)
// and returns its folder, which holds large/, small/, us/ and ct/.
func genCorpus(w io.Writer, genBin, work string, c corpusSize) (string, error) {
	corpus := filepath.Join(work, fmt.Sprintf("corpus-%d-%d-%d-%d", c.large, c.small, c.us, c.ct))
	if _, err := os.Stat(corpus); err == nil {
		return corpus, nil
	}
	fmt.Fprintf(w, "generating corpus: %d DR, %d small, %d US, %d CT objects in %s\n", c.large, c.small, c.us, c.ct, corpus)
	if out, err := exec.Command(genBin, "-bench", corpus+".tmp", "-large", fmt.Sprint(c.large),
		"-small", fmt.Sprint(c.small), "-us", fmt.Sprint(c.us), "-ct", fmt.Sprint(c.ct), "-seed", "1").CombinedOutput(); err != nil {
		return "", fmt.Errorf("gentestdata: %v\n%s", err, out)
	}
	if err := os.Rename(corpus+".tmp", corpus); err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	return corpus, nil
}

func goBuild(out, pkg string) error {
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// scan lists the .dcm files under dir (none when dir is missing) and their total size.
func scan(dir string) (files []string, bytes int64, err error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, 0, nil
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".dcm") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files, bytes = append(files, p), bytes+info.Size()
		return nil
	})
	sort.Strings(files)
	return
}

func meanSize(bytes int64, n int) string {
	if m := float64(bytes) / float64(n); m >= 1e6 {
		return fmt.Sprintf("%.1f MB", m/1e6)
	} else {
		return fmt.Sprintf("%.0f KB", m/1e3)
	}
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
	if cmd.Stdout == nil {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
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
	if srv.probe != "" {
		if err := waitHTTP(srv.probe); err != nil {
			return result{}, fmt.Errorf("%s: %w", target, err)
		}
	}
	if err := waitUp("127.0.0.1:" + port); err != nil {
		return result{}, fmt.Errorf("%s: %w", target, err)
	}
	cpu0 := cputime.Of(cmd.Process.Pid).Seconds()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	t0 := time.Now()
	_, sendErr := send(ctx, target, w.files, w.assocs, []string{port})
	elapsed := time.Since(t0).Seconds()
	r := result{target: target, seconds: elapsed, cpu: -1}
	if srv.cpu {
		r.cpu = cputime.Of(cmd.Process.Pid).Seconds() - cpu0
	}
	if sendErr != nil {
		return result{}, sendErr
	}
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
	if strings.HasPrefix(target, "pacsd") {
		r.peakRSS = peakRSS(cmd.Process.Pid)
	}
	return r, nil
}

// send stores files with storescu over assocs parallel associations (file i on association
// i mod assocs), association a to the loopback port ports[a mod len(ports)], and returns
// when every storescu has ended, with the CPU time the storescu processes used.
func send(ctx context.Context, target string, files []string, assocs int, ports []string) (time.Duration, error) {
	groups := make([][]string, assocs)
	for i, f := range files {
		groups[i%assocs] = append(groups[i%assocs], f)
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		cpu time.Duration
	)
	errs := make(chan error, assocs)
	for a, g := range groups {
		if len(g) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"-aec", "BENCH", "-R", "127.0.0.1", ports[a%len(ports)]}, g...)
			scu := exec.CommandContext(ctx, "storescu", args...)
			scu.Env = nodelay()
			out, err := scu.CombinedOutput()
			if scu.ProcessState != nil {
				mu.Lock()
				cpu += scu.ProcessState.UserTime() + scu.ProcessState.SystemTime()
				mu.Unlock()
			}
			if err != nil {
				errs <- fmt.Errorf("storescu -> %s: %v\n%s", target, err, tail(out))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return cpu, err
	}
	return cpu, nil
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

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s never answered 200", url)
}
