package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"pacsd/dimse"
	"pacsd/tools/internal/benchkit"
)

// server is one DICOMweb server under test, started as a real process.
type server struct {
	name          string
	benchkit.Proc        // its process; Log is its stdout/stderr
	dir           string // its data folder
	dicomAddr     string // host:port of its DIMSE SCP
	aet           string // its AE title
	base          string // http://host:port
	web           string // DICOMweb root URL, no trailing slash
}

// startPacsd runs the real pacsd binary on a folder backend, on free loopback ports.
func startPacsd(bin, dir string) (*server, error) {
	dp, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	hp, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	s := &server{name: "pacsd", dir: dir, aet: "BENCH",
		dicomAddr: "127.0.0.1:" + dp, base: "http://127.0.0.1:" + hp}
	s.web = s.base + "/dicomweb"
	// The benchmark's SCU (BENCHWEB) stores the corpus and queries (C-FIND) as a county
	// workstation would.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	peers := filepath.Join(dir, "peers.json")
	if err := os.WriteFile(peers, []byte(`[{"aeTitle": "BENCHWEB", "mayStore": true, "mayQuery": true}]`), 0o644); err != nil {
		return nil, err
	}
	s.Cmd = exec.Command(bin, "--peers-file", peers, "--dicom-addr", s.dicomAddr, "--http-addr", "127.0.0.1:"+hp,
		"--data-dir", filepath.Join(dir, "data"), "--aet", s.aet, "--log-level", "warn",
		// The benchmark queries as a script on loopback, without an account, as Orthanc's
		// side does; authentication is a per-request cost neither server is measured on.
		"--dicomweb-open", "--metrics-open")
	if err := s.start(s.base + "/dicomweb/studies?limit=1"); err != nil {
		return nil, err
	}
	return s, nil
}

// startOrthanc runs Orthanc from Debian with the DICOMweb plugin, configured by a JSON file
// of our own (the package's /etc/orthanc is never read), everything in dir.
func startOrthanc(bin, plugin, dir string) (*server, error) {
	for _, p := range []string{bin, plugin} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("orthanc: %w (run `make deps`: packages orthanc and orthanc-dicomweb)", err)
		}
	}
	dp, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	hp, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	s := &server{name: "Orthanc", dir: dir, aet: "ORTHANC",
		dicomAddr: "127.0.0.1:" + dp, base: "http://127.0.0.1:" + hp}
	s.web = s.base + "/dicom-web"
	port := func(p string) int { n, _ := strconv.Atoi(p); return n }
	cfg := map[string]any{
		"Name":                  "pacsd-benchweb",
		"StorageDirectory":      filepath.Join(dir, "storage"),
		"IndexDirectory":        filepath.Join(dir, "index"),
		"Plugins":               []string{plugin},
		"HttpPort":              port(hp),
		"DicomPort":             port(dp),
		"DicomAet":              s.aet,
		"DicomCheckCalledAet":   false,
		"DicomAlwaysAllowStore": true,
		"DicomAlwaysAllowEcho":  true,
		// The benchmark's SCU, known so that it may query (C-FIND) as pacsd's peer does.
		"DicomModalities":       map[string]any{"benchweb": []any{"BENCHWEB", "127.0.0.1", 104}},
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"SaveJobs":              false,
		// Stored as received, as pacsd does (its default too, said for the record).
		"StorageCompression": false,
		// Compress only when the client asks, as pacsd does; our client says whether it asks.
		"HttpCompressionEnabled": true,
		"KeepAlive":              true,
		// Everything else stays at Orthanc's and the plugin's defaults (SyncStorageArea,
		// StudiesMetadata/SeriesMetadata "Full", no result limit): that is what a site
		// installing the two Debian packages gets.
		"DicomWeb": map[string]any{"Enable": true, "Root": "/dicom-web/", "EnableWado": false},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		return nil, err
	}
	s.Cmd = exec.Command(bin, conf)
	if err := s.start(s.web + "/studies?limit=1"); err != nil {
		return nil, err
	}
	return s, nil
}

// start runs s.Cmd with its output in a log file and waits until probe answers 200.
func (s *server) start(probe string) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	s.Log = filepath.Join(s.dir, "server.log")
	lf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close() // the child has its own descriptor
	s.Cmd.Stdout, s.Cmd.Stderr = lf, lf
	if err := s.Cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	s.Exited = make(chan struct{})
	go func() { s.Cmd.Wait(); close(s.Exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(probe); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := net.Dial("tcp", s.dicomAddr); err == nil {
					c.Close()
					return nil
				}
			}
		}
		select {
		case <-s.Exited:
			return fmt.Errorf("%s exited at start:\n%s", s.name, s.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s did not come up within 60 s:\n%s", s.name, s.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server: SIGINT first (pacsd shuts down cleanly), SIGKILL after 20 s.
func (s *server) stop() { s.Stop(20 * time.Second) }

// peakRSS is the server's resident set high-water mark (VmHWM), in bytes; 0 if unknown.
func (s *server) peakRSS() int64 {
	return benchkit.Memory(s.Cmd.Process.Pid, "VmHWM")
}

// load sends every instance of the corpus to s's DIMSE SCP with pacsd's own SCU (the code
// behind `pacsd send`, which sends files untouched) over assocs parallel associations,
// and returns when every one was acknowledged.
func load(ctx context.Context, c *corpus, s *server, assocs int) error {
	var items []dimse.StoreItem
	var failed atomic.Int64
	var firstErr atomic.Value
	c.each(func(_ *studyPlan, se *seriesPlan, in *instancePlan) {
		items = append(items, dimse.StoreItem{
			SOPClassUID: se.class, SOPInstanceUID: in.uid, TransferSyntaxUID: c.fileMeta(se, in).TransferSyntaxUID,
			Open: func() (io.ReadCloser, error) {
				off, err := c.datasetOffset(se, in)
				if err != nil {
					return nil, err
				}
				return c.openDataset(se, in, off)
			},
		})
	})
	// Contiguous slices keep each study on one association, as a modality sends it.
	var wg sync.WaitGroup
	errs := make(chan error, assocs)
	for a := 0; a < assocs; a++ {
		part := items[a*len(items)/assocs : (a+1)*len(items)/assocs]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := dimse.ClientConfig{CallingAETitle: "BENCHWEB", CalledAETitle: s.aet}
			err := dimse.StoreAll(ctx, s.dicomAddr, cfg, part, func(r dimse.StoreResult) {
				if !r.OK() {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v %v", part[r.Index].SOPInstanceUID, r.Status, r.Err))
				}
			})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("load %s: %d of %d instances failed, first: %v", s.name, n, len(items), firstErr.Load())
	}
	for err := range errs {
		return fmt.Errorf("load %s: %w", s.name, err)
	}
	return nil
}

// countStudies counts what s has indexed, through QIDO-RS, a page at a time (pacsd caps a
// page at 1000 results; Orthanc has no cap but is asked the same way).
func countStudies(s *server) (int, error) {
	const page = 1000
	total := 0
	for off := 0; ; off += page {
		u := fmt.Sprintf("%s/studies?limit=%d&offset=%d&includefield=0020000D", s.web, page, off)
		b, code, err := get(http.DefaultClient, u, "application/dicom+json")
		if err != nil {
			return 0, fmt.Errorf("count studies on %s: %w", s.name, err)
		}
		if code == http.StatusNoContent {
			return total, nil
		}
		if code != http.StatusOK {
			return 0, fmt.Errorf("count studies on %s: %s: HTTP %d: %.300s", s.name, u, code, b)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return 0, fmt.Errorf("count studies on %s: %w", s.name, err)
		}
		total += len(list)
		if len(list) < page {
			return total, nil
		}
	}
}

// get is one GET with an Accept field; it returns the body and the status.
func get(client *http.Client, u, accept string) ([]byte, int, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return buf.Bytes(), resp.StatusCode, err
}

// qidoURL joins a DICOMweb root, a path and a raw query ("" for none).
func qidoURL(web, path, query string) string {
	if query == "" {
		return web + path
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		panic(fmt.Sprintf("query %q: %v", query, err)) // our own constant queries
	}
	return web + path + "?" + v.Encode()
}
