// Command benchretrieve measures C-MOVE: one 30-image DR study (2800x2800 16-bit, about 15 MB
// an image, generated as tools/bench's large objects and made one study with dcmodify)
// moved by pacsd to DCMTK's storescp, side by side in one run with DCMTK's storescu sending
// the same files to the same storescp (the reference: the network and the receiver's cost)
// and with Orthanc 1.10 moving the same study there. DCMTK's movescu asks both pacsd and
// Orthanc. Each target runs -rounds times, interleaved; the median is reported, in MB/s of
// Part-10 bytes, with the ratios the issue targets (pacsd >= 0.8x storescu, >= 1.5x Orthanc).
// `make bench` runs it.
//
// With -mode forward it measures forwarding instead (package forward, issue 17): pacsd,
// with a rule sending what BENCH stores on to the storescp, receives the same files from
// storescu; the time from the first object queued to the queue empty (pacsd's /metrics,
// polled) gives the forwarding rate, beside storescu sending the files to the storescp
// directly, in one run (target: forwarding >= 0.8x storescu). Each round starts pacsd on
// an empty archive, since an object once forwarded is never sent again.
//
// The receiving storescp takes every object (--ignore: received over the network, not
// written), so the senders are compared, not a disk; on loopback it is often the bound of
// all three, so the sender's CPU time (user + system, of the storescu process or of the
// pacsd or Orthanc server during the move) is reported beside the rate, and so is the
// receiver's (the storescp's CPU during each target's run). All three read their objects
// from the page cache once the first round has warmed it.
//
// -sink-pdu sets the storescp's maximum PDU (DCMTK's default, 16 KB, unless given) and
// -sink-cpu pins it to CPUs (taskset), to see whether the receiver caps the comparison: on
// the 2-core machine it does, with either PDU size (the receiver's CPU per study is about
// the senders', and the three rates move together); the default stays DCMTK's.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"pacsd/internal/cputime"
)

const (
	studyUID   = "2.25.190476893417628462097652233571452369171"
	seriesUID  = "2.25.190476893417628462097652233571452369172"
	orthancBin = "/usr/sbin/Orthanc"
)

func main() {
	images := flag.Int("images", 30, "images in the study (~15 MB each)")
	rounds := flag.Int("rounds", 3, "runs of each target, interleaved; the median is reported")
	work := flag.String("dir", ".cache/benchretrieve", "scratch folder")
	mode := flag.String("mode", "move", "move (C-MOVE: pacsd, storescu, Orthanc) or forward (forwarding: pacsd, storescu)")
	flag.IntVar(&sinkPDU, "sink-pdu", sinkPDU, "the receiving storescp's maximum PDU (--max-pdu, 4096..131072)")
	flag.StringVar(&sinkCPU, "sink-cpu", sinkCPU, "CPU list the receiving storescp is pinned to (taskset -c); empty: not pinned")
	flag.Parse()
	run := runMove
	switch *mode {
	case "move":
	case "forward":
		run = runForward
	default:
		fmt.Fprintln(os.Stderr, "benchretrieve: -mode is move or forward")
		os.Exit(2)
	}
	if err := run(*images, *rounds, *work); err != nil {
		fmt.Fprintln(os.Stderr, "benchretrieve:", err)
		os.Exit(1)
	}
}

// proc is a started server process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  bytes.Buffer
}

func (p *proc) stop() {
	if p != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

func start(name string, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, cmd: exec.Command(bin, args...)}
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// prepare checks the tools, builds pacsd and the generator into work and makes the study.
func prepare(work string, images int, tools ...string) (pacsdBin string, files []string, total int64, err error) {
	for _, tool := range append([]string{"storescu", "storescp", "dcmodify"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			return "", nil, 0, fmt.Errorf("%s not found: run `make deps` (DCMTK, Orthanc)", tool)
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", nil, 0, err
	}
	work, _ = filepath.Abs(work)
	pacsdBin = filepath.Join(work, "pacsd")
	genBin := filepath.Join(work, "gentestdata")
	for out, pkg := range map[string]string{pacsdBin: "./cmd/pacsd", genBin: "./tools/gentestdata"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			return "", nil, 0, fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	files, total, err = corpus(work, genBin, images)
	return pacsdBin, files, total, err
}

func runMove(images, rounds int, work string) error {
	pacsdBin, files, total, err := prepare(work, images, "movescu", orthancBin)
	if err != nil {
		return err
	}
	work, _ = filepath.Abs(work)
	fmt.Printf("C-MOVE of one study: %d DR images, %.1f MB\n", len(files), mb(total))

	sink, sinkPort, err := startSink()
	if err != nil {
		return err
	}
	defer sink.stop()

	pacsd, pacsdPort, _, err := startPacsd(pacsdBin, filepath.Join(work, "pacsd-data"), sinkPort, false)
	if err != nil {
		return err
	}
	defer pacsd.stop()
	orthanc, orthancPort, err := startOrthanc(filepath.Join(work, "orthanc"), sinkPort)
	if err != nil {
		return err
	}
	defer orthanc.stop()
	for _, target := range []struct{ aec, port string }{{"PACSD", pacsdPort}, {"ORTHANC", orthancPort}} {
		if _, err := storescu(target.aec, target.port, files); err != nil {
			return fmt.Errorf("loading the study into %s: %w", target.aec, err)
		}
	}

	// Each run returns the sender's CPU seconds.
	server := func(p *proc, aec, port string) func() (float64, error) {
		return func() (float64, error) {
			before := cputime.Of(p.cmd.Process.Pid).Seconds()
			err := movescu(aec, port, len(files))
			return cputime.Of(p.cmd.Process.Pid).Seconds() - before, err
		}
	}
	targets := []struct {
		name string
		run  func() (float64, error)
	}{
		{"storescu -> storescp (reference)", func() (float64, error) { return storescu("SINK", sinkPort, files) }},
		{"pacsd C-MOVE -> storescp", server(pacsd, "PACSD", pacsdPort)},
		{"Orthanc C-MOVE -> storescp", server(orthanc, "ORTHANC", orthancPort)},
	}
	times := make([][]float64, len(targets))
	cpus := make([][]float64, len(targets))
	sinkCPUs := make([][]float64, len(targets))
	for r := 0; r < rounds; r++ {
		for i, t := range targets {
			start := time.Now()
			sinkBefore := cputime.Of(sink.cmd.Process.Pid).Seconds()
			cpu, err := t.run()
			sinkCPUs[i] = append(sinkCPUs[i], cputime.Of(sink.cmd.Process.Pid).Seconds()-sinkBefore)
			if err != nil {
				return fmt.Errorf("%s: %w\n%s", t.name, err, tail(pacsd.log.String()))
			}
			times[i] = append(times[i], time.Since(start).Seconds())
			cpus[i] = append(cpus[i], cpu)
		}
	}
	rate := make([]float64, len(targets))
	fmt.Printf("\n%-34s %10s %10s %14s %14s\n", "", "seconds", "MB/s", "sender CPU s", "receiver CPU s")
	for i, t := range targets {
		s := median(times[i])
		rate[i] = mb(total) / s
		fmt.Printf("%-34s %10.2f %10.1f %14.2f %14.2f\n", t.name, s, rate[i], median(cpus[i]), median(sinkCPUs[i]))
	}
	fmt.Printf("\npacsd / storescu: %.2fx (target >= 0.8x)\npacsd / Orthanc:  %.2fx (target >= 1.5x)\n",
		rate[1]/rate[0], rate[1]/rate[2])
	return nil
}

// corpus generates the study once: tools/bench's large DR objects, one study and series.
func corpus(work, genBin string, images int) ([]string, int64, error) {
	dir := filepath.Join(work, fmt.Sprintf("study-%d", images))
	if _, err := os.Stat(dir); err != nil {
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		fmt.Printf("generating %d DR images in %s\n", images, dir)
		if b, err := exec.Command(genBin, "-bench", tmp, "-large", strconv.Itoa(images), "-small", "0", "-seed", "7").CombinedOutput(); err != nil {
			return nil, 0, fmt.Errorf("gentestdata: %v\n%s", err, b)
		}
		paths, _ := filepath.Glob(filepath.Join(tmp, "large", "*.dcm"))
		args := []string{"-nb", "-m", "(0020,000d)=" + studyUID, "-m", "(0020,000e)=" + seriesUID,
			"-m", "(0010,0020)=BENCH-RETRIEVE", "-m", "(0008,0050)=BR0001"}
		if b, err := exec.Command("dcmodify", append(args, paths...)...).CombinedOutput(); err != nil {
			return nil, 0, fmt.Errorf("dcmodify: %v\n%s", err, b)
		}
		if err := os.Rename(filepath.Join(tmp, "large"), dir); err != nil {
			return nil, 0, err
		}
		os.RemoveAll(tmp)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	sort.Strings(paths)
	var total int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, 0, err
		}
		total += st.Size()
	}
	if len(paths) != images {
		return nil, 0, fmt.Errorf("%s holds %d images, want %d (remove it to regenerate)", dir, len(paths), images)
	}
	return paths, total, nil
}

// startPacsd runs pacsd on an empty archive with BENCH allowed to store and retrieve and
// SINK as a destination; with forwarding, a rule sends what BENCH stores on to SINK and
// /metrics is open. It returns the DICOM and HTTP ports.
func startPacsd(bin, dir, sinkPort string, forwarding bool) (*proc, string, string, error) {
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", "", err
	}
	peers, _ := json.Marshal([]map[string]any{
		{"aeTitle": "BENCH", "mayStore": true, "mayRetrieve": true, "addresses": []string{}},
		{"aeTitle": "SINK", "host": "127.0.0.1", "port": atoi(sinkPort), "destination": true, "addresses": []string{}},
	})
	peersFile := filepath.Join(dir, "peers.json")
	if err := os.WriteFile(peersFile, peers, 0o600); err != nil {
		return nil, "", "", err
	}
	dp, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	hp, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	args := []string{"serve", "--dicom-addr", "127.0.0.1:" + dp, "--http-addr", "127.0.0.1:" + hp,
		"--data-dir", filepath.Join(dir, "data"), "--peers-file", peersFile, "--log-level", "warn", "--min-free-mb", "16"}
	if forwarding {
		fwd, _ := json.Marshal(map[string]any{
			"destinations": []map[string]any{{"name": "sink", "kind": "dicom", "aeTitle": "SINK"}},
			"rules":        []map[string]any{{"destination": "sink", "callingAE": "BENCH"}},
		})
		fwdFile := filepath.Join(dir, "forward.json")
		if err := os.WriteFile(fwdFile, fwd, 0o600); err != nil {
			return nil, "", "", err
		}
		args = append(args, "--forward-file", fwdFile, "--metrics-open")
	}
	p, err := start("pacsd", bin, args...)
	if err != nil {
		return nil, "", "", err
	}
	if err := waitUp("127.0.0.1:" + dp); err != nil {
		p.stop()
		return nil, "", "", fmt.Errorf("pacsd: %w\n%s", err, tail(p.log.String()))
	}
	return p, dp, hp, nil
}

// startOrthanc runs Orthanc with its objects stored as received (no compression), BENCH
// allowed to move and SINK as a modality.
func startOrthanc(dir, sinkPort string) (*proc, string, error) {
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	dp, err := freePort()
	if err != nil {
		return nil, "", err
	}
	hp, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cfg, _ := json.Marshal(map[string]any{
		"Name": "benchretrieve", "StorageDirectory": filepath.Join(dir, "storage"), "IndexDirectory": filepath.Join(dir, "index"),
		"Plugins": []string{}, "HttpPort": atoi(hp), "DicomPort": atoi(dp), "DicomAet": "ORTHANC",
		"DicomCheckCalledAet": false, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
		"DicomModalities":            map[string][]any{"sink": {"SINK", "127.0.0.1", atoi(sinkPort)}, "bench": {"BENCH", "127.0.0.1", 1}},
		"DicomAlwaysAllowStore":      true,
		"StorageCompression":         false,
		"DicomAssociationCloseDelay": 0,
		"SaveJobs":                   false,
		"SyncStorageArea":            false,
	})
	path := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		return nil, "", err
	}
	p, err := start("Orthanc", orthancBin, path)
	if err != nil {
		return nil, "", err
	}
	if err := waitUp("127.0.0.1:" + dp); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("orthanc: %w\n%s", err, tail(p.log.String()))
	}
	return p, dp, nil
}

// storescu sends files to aec and returns the CPU seconds it used.
func storescu(aec, port string, files []string) (float64, error) {
	args := append([]string{"-aet", "BENCH", "-aec", aec, "127.0.0.1", port}, files...)
	cmd := exec.Command("storescu", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("storescu: %v\n%s", err, tail(string(b)))
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(), nil
}

// movescu asks aec to move the study to SINK and checks that every image was sent.
func movescu(aec, port string, images int) error {
	b, err := exec.Command("movescu", "-d", "-S", "-aet", "BENCH", "-aec", aec, "-aem", "SINK",
		"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+studyUID, "127.0.0.1", port).CombinedOutput()
	out := string(b)
	if err != nil {
		return fmt.Errorf("movescu: %v\n%s", err, tail(out))
	}
	want := fmt.Sprintf("Completed Suboperations       : %d", images)
	if !strings.Contains(out, want) || !strings.Contains(out, "Received Final Move Response (Success)") &&
		!strings.Contains(out, "0x0000: Success") {
		return fmt.Errorf("movescu: not all %d images moved\n%s", images, tail(out))
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// The receiving storescp's settings (flags).
var (
	sinkPDU = 16384
	sinkCPU = ""
)

// startSink starts the storescp every target sends to (discarding what it receives) and
// returns it with its port once it accepts connections.
func startSink() (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	args := []string{"--ignore", "--max-pdu", strconv.Itoa(sinkPDU), "-aet", "SINK", port}
	bin := "storescp"
	if sinkCPU != "" {
		bin, args = "taskset", append([]string{"-c", sinkCPU, "storescp"}, args...)
	}
	sink, err := start("storescp", bin, args...)
	if err != nil {
		return nil, "", err
	}
	if err := waitUp("127.0.0.1:" + port); err != nil {
		sink.stop()
		return nil, "", err
	}
	return sink, port, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

func waitUp(addr string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s never accepted a connection", addr)
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}
