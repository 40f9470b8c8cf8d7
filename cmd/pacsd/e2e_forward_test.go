package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/logtest"
)

// forwardObjects are sent by storescu as they are (its default proposals: native syntaxes).
var forwardObjects = []string{"ts_explicit_le.dcm", "charset_gb18030.dcm"}

// orthancProc is an Orthanc that can be killed and started again on the same ports and
// storage (a destination that goes away and comes back).
type orthancProc struct {
	*orthanc
	cfgPath string
	cmd     *exec.Cmd
	hold    net.Listener // keeps the DICOM port while Orthanc is down (refusing every association)
}

func newOrthancProc(t *testing.T, plugins []string) *orthancProc {
	t.Helper()
	needOrthancFile(t, orthancBin)
	if plugins == nil {
		plugins = []string{} // Orthanc refuses null
	}
	dir := t.TempDir()
	httpPort, dicomPort := freePort(t), freePort(t)
	cfg := map[string]any{
		"Name": "pacsd-forward", "StorageDirectory": filepath.Join(dir, "storage"), "IndexDirectory": filepath.Join(dir, "index"),
		"Plugins": plugins, "HttpPort": mustAtoi(t, httpPort), "DicomPort": mustAtoi(t, dicomPort), "DicomAet": "ORTHANC",
		"DicomCheckCalledAet": false, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
		"AcceptedTransferSyntaxes": []string{"1.2.840.10008.*"}, "UnknownSopClassAccepted": true,
		"DicomAlwaysAllowEcho": true, "DicomAlwaysAllowStore": true, "StorageCompression": false,
		"SaveJobs": false, "HttpCompressionEnabled": false,
		"DicomWeb": map[string]any{"Enable": len(plugins) > 0, "Root": "/dicom-web/"},
	}
	b, _ := json.Marshal(cfg)
	p := &orthancProc{orthanc: &orthanc{base: "http://127.0.0.1:" + httpPort, dicomPort: dicomPort}, cfgPath: filepath.Join(dir, "orthanc.json")}
	if err := os.WriteFile(p.cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *orthancProc) start(t *testing.T) {
	t.Helper()
	// A new HTTP port each time (the old one may have been taken meanwhile); the DICOM
	// port, which pacsd's registry names, was held.
	var cfg map[string]any
	b, err := os.ReadFile(p.cfgPath)
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	httpPort := freePort(t)
	cfg["HttpPort"] = mustAtoi(t, httpPort)
	p.base = "http://127.0.0.1:" + httpPort
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p.cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if p.hold != nil {
		p.hold.Close()
		p.hold = nil
	}
	p.log, p.exited = &logtest.Buffer{}, make(chan struct{})
	p.cmd = exec.Command(orthancBin, p.cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := p.exited
	go func() { p.cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/system"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				waitTCP(t, "127.0.0.1:"+p.dicomPort)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Orthanc did not come up\n%s", p.log.String())
		}
	}
}

// kill SIGKILLs Orthanc (its index is SQLite with a journal: what it acknowledged stays).
func (p *orthancProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		<-p.exited
		p.cmd = nil
	}
}

// down kills Orthanc and holds its DICOM port until the next start: calls are cut at once.
func (p *orthancProc) down(t *testing.T) {
	t.Helper()
	p.kill()
	ln, err := net.Listen("tcp", "127.0.0.1:"+p.dicomPort)
	if err != nil {
		t.Fatal(err)
	}
	p.hold = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
}

// writeForwardFile writes a --forward-file.
func writeForwardFile(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "forward.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkArrived asserts that Orthanc holds exactly the objects sent, each byte for byte
// (the data set; Orthanc writes its own File Meta Information).
func checkArrived(t *testing.T, o *orthanc, objs []sentObject) {
	t.Helper()
	have := o.instancesBySOP(t)
	if len(have) != len(objs) {
		t.Errorf("Orthanc holds %d instances, want %d", len(have), len(objs))
	}
	for _, obj := range objs {
		id, ok := have[obj.sop]
		if !ok {
			t.Errorf("%s never arrived", filepath.Base(obj.path))
			continue
		}
		got, code := o.call(t, "GET", "/instances/"+id+"/file", nil)
		if code != http.StatusOK {
			t.Fatalf("Orthanc file of %s: HTTP %d", obj.sop, code)
		}
		if !bytes.Equal(datasetBytes(t, got), obj.dataset) {
			t.Errorf("%s arrived changed", filepath.Base(obj.path))
		}
	}
}

// TestForwardToOrthanc is the demonstration: a rule by calling AE forwards every
// object a township sends to Orthanc 1.10 (C-STORE), while Orthanc is stopped for 30 s and
// pacsd is SIGKILLed once with the queue full: every object arrives, once, byte for byte,
// and the queue ends empty.
func TestForwardToOrthanc(t *testing.T) {
	needTool(t, "storescu")
	o := newOrthancProc(t, nil)
	o.start(t)
	peers := writePeersFile(t,
		map[string]any{"aeTitle": "DR1", "mayStore": true},
		map[string]any{"aeTitle": "ORTHANC", "host": "127.0.0.1", "port": mustAtoi(t, o.dicomPort), "destination": true})
	fwdFile := writeForwardFile(t, map[string]any{
		"destinations": []map[string]any{{"name": "市医院 Orthanc", "kind": "dicom", "aeTitle": "ORTHANC"}},
		"rules":        []map[string]any{{"destination": "市医院 Orthanc", "callingAE": "DR1"}},
	})
	dataDir := filepath.Join(t.TempDir(), "data")
	args := []string{"--peers-file", peers, "--forward-file", fwdFile, "--forward-retry-min", "500ms", "--forward-retry-max", "2s"}
	n := startPacsd(t, dataDir, args...)

	objs := loadObjects(t, forwardObjects)
	var paths []string
	for _, ob := range objs {
		paths = append(paths, ob.path)
	}
	other := loadObjects(t, []string{"dr_mono1.dcm"}) // from another AE: no rule
	for _, f := range genCorpus(t, 0, 24) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h := header(t, f, b)
		objs = append(objs, sentObject{path: f, sop: h.Dataset.String(dicom.TagSOPInstanceUID), dataset: b[h.DatasetOffset:]})
		paths = append(paths, f)
	}

	// Orthanc goes away; the township sends; forwarding fails and backs off.
	o.down(t)
	stopped := time.Now()
	if out, err := n.storeAs("DR1", paths...); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	if out, err := n.storeAs("OTHER", other[0].path); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	queued := `pacsd_forward_queued{destination="市医院 Orthanc"}`
	if q := n.metric(t, queued); q <= 0 {
		t.Fatalf("%s = %v after storing %d objects with Orthanc down", queued, q, len(objs))
	}
	n.waitLog(t, `forwarding failed; retrying`)
	if f := n.metric(t, `pacsd_forward_failing_since_seconds{destination="市医院 Orthanc"}`); f <= 0 {
		t.Errorf("failing since = %v while Orthanc is down", f)
	}

	// pacsd dies with the queue full (and a claim leased); it comes back on the same data.
	n.kill()
	n = startPacsd(t, dataDir, args...)
	if q := n.metric(t, queued); q != float64(len(objs)) {
		t.Fatalf("after SIGKILL and restart %s = %v, want %d", queued, q, len(objs))
	}
	// Orthanc comes back after 30 s (the outage; not a synchronisation).
	time.Sleep(time.Until(stopped.Add(30 * time.Second)))
	o.start(t)
	n.waitMetric(t, queued, func(v float64) bool { return v == 0 }, 30*time.Second)
	checkArrived(t, o.orthanc, objs)
	// Sent once each since the restart (nothing was sent before it: Orthanc was down).
	if s := n.metric(t, `pacsd_forward_sent_objects_total{destination="市医院 Orthanc"}`); s != float64(len(objs)) {
		t.Errorf("sent %v objects, want %d (each once)", s, len(objs))
	}
	if f := n.metric(t, `pacsd_forward_failing_since_seconds{destination="市医院 Orthanc"}`); f != 0 {
		t.Errorf("still failing since %v after the queue emptied", f)
	}
	// Nothing more goes out: a restart finds nothing to send.
	n.stop()
	n = startPacsd(t, dataDir, args...)
	if q := n.metric(t, queued); q != 0 {
		t.Errorf("queue after a clean restart = %v", q)
	}
	if !strings.Contains(n.log.String(), "forward") && testing.Verbose() {
		t.Log("no forwarding log lines after restart")
	}
}

// TestForwardSTOW forwards to Orthanc's DICOMweb plugin by STOW-RS (the Part-10 objects as
// stored), with HTTP Basic credentials that Orthanc checks.
func TestForwardSTOW(t *testing.T) {
	needTool(t, "storescu")
	needOrthancFile(t, orthancDICOMwebPlugin)
	o := newOrthancProc(t, []string{orthancDICOMwebPlugin})
	// Orthanc asks for credentials.
	var cfg map[string]any
	b, _ := os.ReadFile(o.cfgPath)
	json.Unmarshal(b, &cfg)
	cfg["AuthenticationEnabled"] = true
	cfg["RegisteredUsers"] = map[string]string{"pacsd": "s3cret"}
	b, _ = json.Marshal(cfg)
	os.WriteFile(o.cfgPath, b, 0o644)
	o.start(t)

	peers := writePeersFile(t, map[string]any{"aeTitle": "US1", "mayStore": true})
	fwdFile := writeForwardFile(t, map[string]any{
		"destinations": []map[string]any{{"name": "云", "kind": "stow", "url": o.base + "/dicom-web", "auth": "basic", "user": "pacsd", "secret": "s3cret"}},
		"rules":        []map[string]any{{"destination": "云", "callingAE": "US1"}},
	})
	n := startPacsd(t, filepath.Join(t.TempDir(), "data"), "--peers-file", peers, "--forward-file", fwdFile,
		"--forward-retry-min", "500ms", "--forward-retry-max", "2s")
	objs := loadObjects(t, forwardObjects)
	var paths []string
	for _, ob := range objs {
		paths = append(paths, ob.path)
	}
	if out, err := n.storeAs("US1", paths...); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	queued := `pacsd_forward_queued{destination="云"}`
	n.waitMetric(t, queued, func(v float64) bool { return v == 0 }, 30*time.Second)
	// Orthanc's REST API needs the credentials too.
	auth := &orthanc{base: strings.Replace(o.base, "http://", "http://pacsd:s3cret@", 1)}
	have := auth.instancesBySOP(t)
	for _, ob := range objs {
		id, ok := have[ob.sop]
		if !ok {
			t.Errorf("%s not forwarded", filepath.Base(ob.path))
			continue
		}
		got, _ := auth.call(t, "GET", "/instances/"+id+"/file", nil)
		if !bytes.Equal(datasetBytes(t, got), ob.dataset) {
			t.Errorf("%s arrived changed", filepath.Base(ob.path))
		}
	}
	if len(have) != len(objs) {
		t.Errorf("Orthanc holds %d instances, want %d", len(have), len(objs))
	}
}
