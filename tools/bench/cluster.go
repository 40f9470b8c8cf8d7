package main

// -cluster: issue 20's scale-out benchmark. One run starts a durable PostgreSQL
// (internal/pgtest: fsync and synchronous_commit on) and a MinIO server, then sends the
// same small objects (gentestdata's 64x64 DX, as the small workload above) with storescu
// over the same associations to
//
//  1. one pacsd node in cluster mode (--database postgres://... --cluster: every object is
//     in the bucket and indexed in PostgreSQL before it is acknowledged),
//  2. two such nodes over a fresh database and bucket, association a to node a mod 2 (the
//     sender alternates nodes, as a plain TCP load balancer would spread associations),
//  3. for reference, one node with the embedded default (SQLite index, local folder).
//
// Each configuration gets a fresh database and bucket so that none starts with another's
// rows. It reports objects/s, the ratio of two nodes to one, the CPU time per object of
// every process taking part (each pacsd, PostgreSQL with all its backends, MinIO, the
// storescu senders), each node's resident memory, and how busy the machine's cores were:
// on a small machine the two nodes, PostgreSQL, MinIO and the senders share the same
// cores, and when those are saturated the ratio measures the machine, not pacsd.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"pacsd/internal/cputime"
	"pacsd/internal/pgtest"
	"pacsd/tools/internal/benchkit"
)

// clusterOptions is what -cluster runs: small objects per configuration, parallel
// associations, the scratch folder, and prebuilt binaries ("" = go build).
type clusterOptions struct {
	small, assocs    int
	work, pacsd, gen string
}

// clusterConfig is one measured configuration.
type clusterConfig struct {
	name    string
	nodes   int
	cluster bool // PostgreSQL + MinIO write-through; false: the embedded default (SQLite, folder)
}

// nodeResult is one pacsd node's share of a configuration's run.
type nodeResult struct {
	objects      int           // objects sent to it
	cpu          time.Duration // its CPU time from the first object until the background work settled
	peakRSS, rss int64         // VmHWM and VmRSS at the end, bytes
}

// clusterResult is one configuration's measurements.
type clusterResult struct {
	config    clusterConfig
	objects   int
	seconds   float64 // first connect to last acknowledgement
	settled   float64 // until every node's background queues were empty
	nodes     []nodeResult
	postgres  time.Duration // CPU of the postmaster and all its backends (cluster only)
	minio     time.Duration // CPU of the MinIO server (cluster only)
	sender    time.Duration // CPU of the storescu processes
	ackCPU    time.Duration // CPU of all of the above from the first object to the last acknowledgement
	busy      float64       // fraction of the machine's cores busy during the transfer (every process on the machine)
	iowait    float64       // fraction of the machine's cores idle waiting for the disk in that time
	loadAfter string        // load average when the configuration ended
}

func (r clusterResult) rate() float64 { return float64(r.objects) / r.seconds }

// pacsdCPU is the CPU time of all its nodes.
func (r clusterResult) pacsdCPU() time.Duration {
	var t time.Duration
	for _, n := range r.nodes {
		t += n.cpu
	}
	return t
}

// runCluster runs the three configurations, prints the table to w and returns the results
// (one node in cluster mode, two nodes, one node embedded).
func runCluster(ctx context.Context, w io.Writer, o clusterOptions) ([]clusterResult, error) {
	if _, err := exec.LookPath("storescu"); err != nil {
		return nil, fmt.Errorf("storescu not found: run `make deps` (installs DCMTK)")
	}
	if o.small < 1 || o.assocs < 1 {
		return nil, fmt.Errorf("-small and -assocs must be at least 1 (got %d, %d)", o.small, o.assocs)
	}
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	work, err := filepath.Abs(o.work)
	if err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	pacsdBin, genBin, err := buildTools(work, o.pacsd, o.gen)
	if err != nil {
		return nil, err
	}
	corpus, err := genCorpus(w, genBin, work, corpusSize{small: o.small})
	if err != nil {
		return nil, err
	}
	files, size, err := scan(filepath.Join(corpus, "small"))
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("corpus %s has no small objects", corpus)
	}

	pg, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
	if err != nil {
		return nil, fmt.Errorf("postgresql: %w", err)
	}
	defer pg.Stop()
	postmaster, err := postmasterPID(ctx, pg.URL("postgres"))
	if err != nil {
		return nil, err
	}
	minioDir := filepath.Join(work, "cluster-minio")
	os.RemoveAll(minioDir)
	mio, err := startMinio(minioDir)
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	defer func() { mio.stop(); os.RemoveAll(minioDir) }()

	env := clusterEnv{pacsd: pacsdBin, work: work, files: files, assocs: o.assocs, pg: pg, postmaster: postmaster, minio: mio}
	load0 := benchkit.Loadavg()
	configs := []clusterConfig{
		{name: "cluster, PostgreSQL + MinIO", nodes: 1, cluster: true},
		{name: "cluster, PostgreSQL + MinIO", nodes: 2, cluster: true},
		{name: "embedded, SQLite + folder", nodes: 1},
	}
	var res []clusterResult
	for i, c := range configs {
		fmt.Fprintf(w, "measuring %s, %d node(s): %d objects over %d associations\n", c.name, c.nodes, len(files), o.assocs)
		r, err := env.measure(ctx, i, c)
		if err != nil {
			return nil, fmt.Errorf("%s, %d node(s): %w", c.name, c.nodes, err)
		}
		res = append(res, r)
	}
	printCluster(w, res, len(files), size, o.assocs, load0)
	return res, nil
}

// clusterEnv is what every configuration shares: the binaries, corpus and servers.
type clusterEnv struct {
	pacsd      string
	work       string
	files      []string
	assocs     int
	pg         *pgtest.Server
	postmaster int // the PostgreSQL server's main process, the parent of every backend
	minio      *minioServer
}

// measure starts the configuration's nodes on fresh storage, sends the corpus, waits for
// the nodes' background work and checks that every object was indexed.
func (e *clusterEnv) measure(ctx context.Context, i int, c clusterConfig) (clusterResult, error) {
	dir := filepath.Join(e.work, fmt.Sprintf("cluster-run-%d", i))
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	var args, env []string
	if c.cluster {
		db, err := e.pg.CreateDB(ctx, fmt.Sprintf("bench_cluster_%d", i))
		if err != nil {
			return clusterResult{}, err
		}
		args = []string{"--database", db, "--cluster", "--s3-endpoint", e.minio.endpoint,
			"--s3-bucket", fmt.Sprintf("bench-cluster-%d", i)}
		env = []string{"PACSD_S3_ACCESS_KEY=" + e.minio.accessKey, "PACSD_S3_SECRET_KEY=" + e.minio.secretKey}
	}
	var nodes []*pacsdNode
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	// One after the other: the first node migrates the fresh database, as at a real first
	// start; the measurement begins once all are up.
	for k := 0; k < c.nodes; k++ {
		n, err := startNode(ctx, e.pacsd, filepath.Join(dir, fmt.Sprintf("node%d", k+1)), args, env)
		if err != nil {
			return clusterResult{}, err
		}
		nodes = append(nodes, n)
	}
	ports := make([]string, len(nodes))
	for k, n := range nodes {
		ports[k] = n.dicomPort
	}
	r := clusterResult{config: c, objects: len(e.files), nodes: make([]nodeResult, len(nodes))}
	for f := range e.files {
		r.nodes[(f%e.assocs)%len(nodes)].objects++ // send's split: file f on association f mod assocs
	}

	sctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	s0 := e.snapshot(nodes, c.cluster)
	t0 := time.Now()
	sender, err := send(sctx, c.name, e.files, e.assocs, ports)
	r.seconds = time.Since(t0).Seconds()
	if err != nil {
		return clusterResult{}, err
	}
	s1 := e.snapshot(nodes, c.cluster)
	r.sender = sender
	r.ackCPU = s1.total() - s0.total() + sender
	if s1.machineAll > s0.machineAll {
		all := float64(s1.machineAll - s0.machineAll)
		r.busy = float64(s1.machineBusy-s0.machineBusy) / all
		r.iowait = float64(s1.machineIOWait-s0.machineIOWait) / all
	}
	for _, n := range nodes {
		if err := n.settle(sctx); err != nil {
			return clusterResult{}, err
		}
	}
	r.settled = time.Since(t0).Seconds()
	s2 := e.snapshot(nodes, c.cluster)
	for k, n := range nodes {
		r.nodes[k].cpu = s2.nodes[k] - s0.nodes[k]
		r.nodes[k].peakRSS = benchkit.Memory(n.Cmd.Process.Pid, "VmHWM")
		r.nodes[k].rss = benchkit.Memory(n.Cmd.Process.Pid, "VmRSS")
	}
	r.postgres, r.minio = s2.postgres-s0.postgres, s2.minio-s0.minio
	// Asked of the last node: with two, half of what it reports was received by the other.
	n, err := nodes[len(nodes)-1].countInstances(sctx)
	if err != nil {
		return clusterResult{}, err
	}
	if n != len(e.files) {
		return clusterResult{}, fmt.Errorf("%d objects sent and acknowledged, %d indexed", len(e.files), n)
	}
	r.loadAfter = benchkit.Loadavg()
	return r, nil
}

// cpuSnapshot is the CPU time each process has used so far, and the machine's CPU counters.
type cpuSnapshot struct {
	nodes                                  []time.Duration
	postgres, minio                        time.Duration
	machineBusy, machineIOWait, machineAll uint64 // /proc/stat jiffies, all cores
}

func (s cpuSnapshot) total() time.Duration {
	t := s.postgres + s.minio
	for _, n := range s.nodes {
		t += n
	}
	return t
}

func (e *clusterEnv) snapshot(nodes []*pacsdNode, cluster bool) cpuSnapshot {
	var s cpuSnapshot
	for _, n := range nodes {
		s.nodes = append(s.nodes, cputime.Of(n.Cmd.Process.Pid))
	}
	if cluster {
		s.postgres = childrenCPU(e.postmaster)
		s.minio = cputime.Of(e.minio.cmd.Process.Pid)
	}
	s.machineBusy, s.machineIOWait, s.machineAll = machineCPU()
	return s
}

// postmasterPID is the main process of the PostgreSQL server behind url: the parent of
// the backend that serves this connection. (Its process group will not do: each backend
// calls setsid and leads a group of its own.)
func postmasterPID(ctx context.Context, url string) (int, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("postgresql: %w", err)
	}
	defer c.Close(ctx)
	var pid int
	if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return 0, fmt.Errorf("postgresql: backend pid: %w", err)
	}
	f, err := procStat(pid)
	if err != nil {
		return 0, fmt.Errorf("postgresql backend %d: %w", pid, err)
	}
	return int(f.ppid), nil
}

// statFields are the fields of /proc/<pid>/stat this file reads.
type statFields struct {
	ppid                         int64
	utime, stime, cutime, cstime int64 // clock ticks
}

// procStat reads /proc/<pid>/stat (proc(5): ppid is field 4, utime to cstime 14-17).
func procStat(pid int) (statFields, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return statFields{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])) // f[0] is field 3
	if len(f) < 15 {
		return statFields{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	return statFields{ppid: n(1), utime: n(11), stime: n(12), cutime: n(13), cstime: n(14)}, nil
}

// childrenCPU is the CPU time of a server that forks its workers (PostgreSQL's backends,
// autovacuum, checkpointer): its own, its live children's, and that of the children that
// have ended, which the kernel adds to the parent's children's time when it reaps them.
func childrenCPU(parent int) time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := procStat(pid)
		if err != nil || pid != parent && f.ppid != int64(parent) {
			continue
		}
		ticks += f.utime + f.stime
		if pid == parent {
			ticks += f.cutime + f.cstime
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// machineCPU is the machine's busy, disk-waiting and total CPU time so far, in jiffies over
// all cores, from /proc/stat's first line (idle and iowait count as not busy).
func machineCPU() (busy, iowait, all uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
		all += v[i]
	}
	return all - v[3] - v[4], v[4], all
}

// pacsdNode is one pacsd process on loopback ports.
type pacsdNode struct {
	benchkit.Proc
	dicomPort string
	httpURL   string
}

// startNode runs pacsd serve on free loopback ports with its data in dir, and waits until
// both /metrics and the DIMSE port answer.
func startNode(ctx context.Context, bin, dir string, extra, env []string) (*pacsdNode, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node folder: %w", err)
	}
	dp, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	hp, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	n := &pacsdNode{dicomPort: dp, httpURL: "http://127.0.0.1:" + hp, Proc: benchkit.Proc{Log: filepath.Join(dir, "pacsd.log"), Exited: make(chan struct{})}}
	lf, err := os.Create(n.Log)
	if err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	defer lf.Close() // the child has its own descriptor
	args := append([]string{"serve", "--dicom-addr", "127.0.0.1:" + dp, "--http-addr", "127.0.0.1:" + hp,
		"--data-dir", filepath.Join(dir, "data"), "--aet", "BENCH", "--log-level", "warn",
		"--metrics-open", "--dicomweb-open"}, extra...)
	n.Cmd = exec.Command(bin, args...)
	n.Cmd.Env = append(os.Environ(), env...)
	n.Cmd.Stdout, n.Cmd.Stderr = lf, lf
	if err := n.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pacsd: %w", err)
	}
	go func() { n.Cmd.Wait(); close(n.Exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := n.queued(); err == nil {
			if c, err := net.Dial("tcp", "127.0.0.1:"+dp); err == nil {
				c.Close()
				return n, nil
			}
		}
		select {
		case <-n.Exited:
			return nil, fmt.Errorf("pacsd exited at start:\n%s", n.LogTail())
		case <-ctx.Done():
			n.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("pacsd did not come up within 60 s:\n%s", n.LogTail())
		}
	}
}

// stop ends the node: SIGINT (pacsd shuts down cleanly), SIGKILL after 30 s.
func (n *pacsdNode) stop() { n.Stop(30 * time.Second) }

// backgroundQueues are the gauges of work a node does after acknowledging an object.
var backgroundQueues = []string{"pacsd_thumbnails_queued", "pacsd_metadata_queued", "pacsd_spool_pending_objects", "pacsd_forward_queued"}

// queued is the node's background work still to do (the gauges it exports of those above).
func (n *pacsdNode) queued() (float64, error) {
	resp, err := http.Get(n.httpURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: HTTP %d: %v", resp.StatusCode, err)
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		for _, g := range backgroundQueues {
			if v, ok := strings.CutPrefix(line, g+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
	}
	return sum, nil
}

// settle waits until the node's background queues are empty.
func (n *pacsdNode) settle(ctx context.Context) error {
	for {
		q, err := n.queued()
		if err != nil {
			return fmt.Errorf("node %s: %w", n.httpURL, err)
		}
		if q == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: %v background jobs left: %w", n.httpURL, q, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// countInstances adds up the studies' Number of Study Related Instances over QIDO-RS, a
// page of 1000 studies at a time.
func (n *pacsdNode) countInstances(ctx context.Context) (int, error) {
	const page = 1000
	total := 0
	for off := 0; ; off += page {
		u := fmt.Sprintf("%s/dicomweb/studies?limit=%d&offset=%d&includefield=00201208", n.httpURL, page, off)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Accept", "application/dicom+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, fmt.Errorf("count instances: %w", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("count instances: %w", err)
		}
		if resp.StatusCode == http.StatusNoContent {
			return total, nil
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("count instances: %s: HTTP %d: %.300s", u, resp.StatusCode, b)
		}
		var studies []map[string]json.RawMessage
		if err := json.Unmarshal(b, &studies); err != nil {
			return 0, fmt.Errorf("count instances: %w", err)
		}
		for _, s := range studies {
			var a struct{ Value []int }
			if err := json.Unmarshal(s["00201208"], &a); err != nil || len(a.Value) != 1 {
				return 0, fmt.Errorf("count instances: 00201208 %s: %v", s["00201208"], err)
			}
			total += a.Value[0]
		}
		if len(studies) < page {
			return total, nil
		}
	}
}

// capacityBusy is the share of the machine's cores above which a run counts as limited by
// the machine: the rest is the scheduler's slack and the kernel's own work.
const capacityBusy = 0.85

// printCluster writes the table and what it means on this machine.
func printCluster(w io.Writer, res []clusterResult, objects int, size int64, assocs int, load0 string) {
	cores := runtime.NumCPU()
	one, two := res[0], res[1]
	ms := func(d time.Duration, n int) string {
		if d <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", d.Seconds()*1000/float64(n))
	}
	fmt.Fprintf(w, "\nsmall-object ingest: %d objects (%s each, gentestdata 64x64 DX), %d storescu associations, this machine: %d cores\n",
		objects, meanSize(size, objects), assocs, cores)
	fmt.Fprintf(w, "\n%-28s %5s %8s %8s %7s %8s | %-34s | %5s %5s %6s\n", "configuration", "nodes", "seconds", "obj/s", "x 1node",
		"settled", "CPU ms/object: pacsd  pg  minio  scu  all", "busy", "ours", "iowait")
	for _, r := range res {
		ratio := "-"
		if r.config.cluster {
			ratio = fmt.Sprintf("%.2fx", r.rate()/one.rate())
		}
		all := r.pacsdCPU() + r.postgres + r.minio + r.sender
		cpu := fmt.Sprintf("%20s %5s %6s %4s %5s", ms(r.pacsdCPU(), r.objects), ms(r.postgres, r.objects),
			ms(r.minio, r.objects), ms(r.sender, r.objects), ms(all, r.objects))
		ours := r.ackCPU.Seconds() / (r.seconds * float64(cores))
		fmt.Fprintf(w, "%-28s %5d %8.2f %8.1f %7s %8.2f | %-34s | %4.0f%% %4.0f%% %5.0f%%\n", r.config.name, r.config.nodes, r.seconds,
			r.rate(), ratio, r.settled, cpu, 100*r.busy, 100*ours, 100*r.iowait)
	}
	fmt.Fprintf(w, "\n%-28s %5s %8s %10s %12s %13s %11s\n", "per node", "node", "objects", "CPU s", "CPU ms/obj", "peak RSS MB", "RSS end MB")
	for _, r := range res {
		for k, n := range r.nodes {
			fmt.Fprintf(w, "%-28s %5d %8d %10.2f %12s %13.1f %11.1f\n", fmt.Sprintf("%s, %d node(s)", shortName(r.config), r.config.nodes),
				k+1, n.objects, n.cpu.Seconds(), ms(n.cpu, n.objects), float64(n.peakRSS)/(1<<20), float64(n.rss)/(1<<20))
		}
	}

	fmt.Fprintf(w, "\nobj/s: objects acknowledged per second, first connect to last acknowledgement. x 1node: rate / the one cluster node's.\n")
	fmt.Fprintf(w, "settled: seconds from the first object until every node's background queues (thumbnails, metadata, uploads) were empty.\n")
	fmt.Fprintf(w, "CPU ms/object: user + system time until settled, per object: pacsd (all nodes), pg (the postmaster and all its\n")
	fmt.Fprintf(w, "backends), minio, scu (the storescu senders), all (their sum). busy: the machine's cores busy during the transfer,\n")
	fmt.Fprintf(w, "every process on the machine (other work included); ours: this run's processes' share of the cores in that time;\n")
	fmt.Fprintf(w, "iowait: the cores' time idle waiting for the disk in that time.\n")
	fmt.Fprintf(w, "Cluster nodes acknowledge an object once it is in the bucket and indexed in PostgreSQL (fsync and synchronous_commit on);\n")
	fmt.Fprintf(w, "the embedded node once it is fsynced in its folder and indexed in SQLite.\n")

	// What the machine allows: the one-node run's CPU per object, over every process it
	// took, bounds the rate any number of nodes can reach on these cores: until the last
	// acknowledgement for a burst (background work left queued), until settled for a
	// sustained load.
	fmt.Fprintf(w, "\ntwo nodes / one node: %.2fx (issue 20 asks >= 1.6x).\n", two.rate()/one.rate())
	burst := one.ackCPU.Seconds() / float64(one.objects)
	sustained := (one.pacsdCPU() + one.postgres + one.minio + one.sender).Seconds() / float64(one.objects)
	if burst > 0 && sustained > 0 {
		fmt.Fprintf(w, "the one-node run cost %.2f ms of CPU per object over all its processes (pacsd, PostgreSQL, MinIO, storescu) until\n", burst*1000)
		fmt.Fprintf(w, "the last acknowledgement, %.2f ms with the background work: %d cores cannot acknowledge more than %.0f obj/s (%.2fx\n",
			sustained*1000, cores, float64(cores)/burst, float64(cores)/burst/one.rate())
		fmt.Fprintf(w, "the one-node rate) nor sustain more than %.0f obj/s (%.2fx), however many nodes.\n",
			float64(cores)/sustained, float64(cores)/sustained/one.rate())
	}
	// Each association waits for every acknowledgement, so the associations' count over
	// the rate is the time an object takes, end to end, as its sender sees it.
	fmt.Fprintf(w, "an object took %.0f ms from send to acknowledgement on each of the %d associations with one node, %.0f ms with two:\n",
		1000*float64(assocs)/one.rate(), assocs, 1000*float64(assocs)/two.rate())
	fmt.Fprintf(w, "the same associations over two nodes add no concurrency; they gain only where one node's own work held its objects back.\n")
	if ours := two.ackCPU.Seconds() / (two.seconds * float64(cores)); two.busy >= capacityBusy {
		fmt.Fprintf(w, "the machine's %d cores were %.0f%% busy during the two-node run, %.0f%% of them this run's processes", cores, 100*two.busy, 100*ours)
		if two.busy-ours > ours {
			fmt.Fprintf(w, " and the rest\nother work on the shared machine: every rate here is lower than on an idle machine, and")
		} else {
			fmt.Fprintf(w, ":\nthe two nodes, PostgreSQL, MinIO and the senders filled the cores, and")
		}
		fmt.Fprintf(w, " the two/one ratio is capped\nby the machine's cores, not by pacsd (nodes on machines of their own would each have these cores).\n")
	} else {
		fmt.Fprintf(w, "the machine's cores were %.0f%% busy during the two-node run: below capacity, so the ratio is pacsd's and its shared services'.\n", 100*two.busy)
	}
	fmt.Fprintf(w, "load average: %s before, %s after (1, 5, 15 min; the machine is shared with other work).\n", load0, res[len(res)-1].loadAfter)
}

func shortName(c clusterConfig) string {
	if c.cluster {
		return "cluster"
	}
	return "embedded"
}
