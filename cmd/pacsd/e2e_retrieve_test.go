package main

// C-MOVE and C-GET from the real binary: DCMTK's movescu and getscu as the requesters,
// DCMTK's storescp and Orthanc as move destinations registered in --peers-file, Orthanc as a
// Q/R client retrieving from pacsd. What arrives is compared byte for byte with what was
// stored (or, for a peer that does not take the stored syntax, with what pacsd send's
// re-encoding to Explicit VR Little Endian gives).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/store/s3/miniotest"
)

// retrieveObjects are the test objects sent to pacsd and retrieved: native and compressed
// syntaxes, a multi-frame, GB18030 text.
var retrieveObjects = []string{"ts_explicit_le.dcm", "ts_implicit_le.dcm", "ts_jpeg_baseline.dcm", "ts_rle.dcm",
	"ts_j2k.dcm", "us_multiframe.dcm", "charset_gb18030.dcm", "dr_mono2.dcm"}

// sentObject is one object sent to pacsd: its UIDs and data set bytes.
type sentObject struct {
	path, study, sop, ts string
	part10, dataset      []byte
}

func loadObjects(t *testing.T, names []string) []sentObject {
	t.Helper()
	var out []sentObject
	for _, n := range names {
		p := filepath.Join("..", "..", "testdata", n)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h := header(t, n, b)
		out = append(out, sentObject{path: p, study: h.Dataset.String(dicom.TagStudyInstanceUID),
			sop: h.Dataset.String(dicom.TagSOPInstanceUID), ts: h.TransferSyntax, part10: b, dataset: b[h.DatasetOffset:]})
	}
	return out
}

// writePeersFile writes a --peers-file.
func writePeersFile(t *testing.T, peers ...map[string]any) string {
	t.Helper()
	for _, p := range peers {
		if p["addresses"] == nil {
			p["addresses"] = []string{}
		}
	}
	b, err := json.Marshal(peers)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startStorescp runs DCMTK's storescp as aet until the test ends and returns its port.
func startStorescp(t *testing.T, dir, aet string, args ...string) string {
	t.Helper()
	needTool(t, "storescp")
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "storescp", append(append([]string{"-od", dir, "-aet", aet}, args...), port)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("storescp %s output:\n%s", aet, out.String())
		}
	})
	waitTCP(t, "127.0.0.1:"+port)
	return port
}

// receivedFiles reads a folder of Part-10 files: SOP Instance UID -> syntax and data set.
func receivedFiles(t *testing.T, dir string) map[string]sentObject {
	t.Helper()
	out := map[string]sentObject{}
	paths, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h := header(t, p, b)
		out[h.Meta.String(dicom.TagMediaStorageSOPInstanceUID)] = sentObject{path: p, ts: h.TransferSyntax, dataset: b[h.DatasetOffset:]}
	}
	return out
}

// reencoded is the object's data set in Explicit VR Little Endian, as pacsd sends it to a
// peer that does not accept the stored syntax.
func reencoded(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	hdr, err := dicom.ReadPart10(bufio.NewReader(f), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := pixel.ExplicitLEDataset(context.Background(), f, st.Size(), hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Syntaxes a peer accepts, for checkReceived: every one, storescp's default (uncompressed),
// and the one pacsd picks for each SOP class getscu proposes (Explicit VR Little Endian).
var (
	acceptsAll          = func(string) bool { return true }
	acceptsUncompressed = func(ts string) bool {
		return ts == dicom.ExplicitVRLittleEndian || ts == dicom.ImplicitVRLittleEndian || ts == dicom.ExplicitVRBigEndian
	}
	acceptsExplicitLE = func(ts string) bool { return ts == dicom.ExplicitVRLittleEndian }
)

// checkReceived compares what a peer received with what was sent to pacsd: the same data
// set bytes in the stored syntax when the peer accepts it, else the Explicit VR Little
// Endian re-encoding.
func checkReceived(t *testing.T, who string, got map[string]sentObject, objs []sentObject, accepts func(ts string) bool) {
	t.Helper()
	if len(got) != len(objs) {
		t.Errorf("%s received %d objects, want %d", who, len(got), len(objs))
	}
	for _, o := range objs {
		g, ok := got[o.sop]
		if !ok {
			t.Errorf("%s did not receive %s", who, filepath.Base(o.path))
			continue
		}
		wantTS, want := o.ts, o.dataset
		if !accepts(o.ts) {
			wantTS, want = dicom.ExplicitVRLittleEndian, reencoded(t, o.path)
		}
		if g.ts != wantTS {
			t.Errorf("%s received %s in %s, want %s", who, filepath.Base(o.path), g.ts, wantTS)
		}
		if !bytes.Equal(g.dataset, want) {
			t.Errorf("%s received %s with other data set bytes (%d, want %d)", who, filepath.Base(o.path), len(g.dataset), len(want))
		}
	}
}

// studyKeys are movescu/getscu -k arguments for a Study Root STUDY-level retrieve of the
// studies of objs (a UID list).
func studyKeys(objs []sentObject) []string {
	var uids []string
	for _, o := range objs {
		if !strings.Contains(strings.Join(uids, `\`), o.study) {
			uids = append(uids, o.study)
		}
	}
	return []string{"-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=" + strings.Join(uids, `\`)}
}

// runRetrieveTool runs movescu or getscu and returns its output; a failure status is in the
// output (and may or may not be in the exit code), so the exit code is returned too.
func runRetrieveTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, append([]string{"-v"}, args...)...).CombinedOutput()
	return string(out), err
}

// sendTo stores files in pacsd with pacsd send (each in its own syntax) as aet.
func sendTo(t *testing.T, n *node, aet string, objs []sentObject) {
	t.Helper()
	args := []string{"send", "--addr", n.dicomAddr, "--aec", "PACSD", "--aet", aet}
	for _, o := range objs {
		args = append(args, o.path)
	}
	if out, err := exec.Command(pacsdBin, args...).CombinedOutput(); err != nil || strings.Count(string(out), "status 0x0000") != len(objs) {
		t.Fatalf("pacsd send: %v\n%s", err, out)
	}
}

// TestRetrieveDCMTK: movescu moves studies to a storescp registered as a destination (byte
// for byte; re-encoded for a storescp that takes nothing compressed), an unregistered
// destination is 0xA801, a peer that may not retrieve is refused, and getscu gets the
// same objects on its own association.
func TestRetrieveDCMTK(t *testing.T) {
	needTool(t, "movescu", "getscu", "storescp")
	objs := loadObjects(t, retrieveObjects)
	all, plain := t.TempDir(), t.TempDir()
	allPort := startStorescp(t, all, "ALLSCP", "+B", "+xa")
	plainPort := startStorescp(t, plain, "PLAINSCP", "+B")
	peers := writePeersFile(t,
		map[string]any{"aeTitle": "WS", "mayStore": true, "mayQuery": true, "mayRetrieve": true},
		map[string]any{"aeTitle": "MODALITY", "mayStore": true},
		map[string]any{"aeTitle": "ALLSCP", "host": "127.0.0.1", "port": mustAtoi(t, allPort), "destination": true},
		map[string]any{"aeTitle": "PLAINSCP", "host": "127.0.0.1", "port": mustAtoi(t, plainPort), "destination": true},
	)
	n := startPacsd(t, t.TempDir(), "--peers-file", peers)
	sendTo(t, n, "MODALITY", objs)
	host, port := "127.0.0.1", n.dicomPort
	keys := studyKeys(objs)

	t.Run("move", func(t *testing.T) {
		out, err := runRetrieveTool(t, "movescu", append([]string{"-d", "-aet", "WS", "-aec", "PACSD", "-aem", "ALLSCP"}, append(keys, host, port)...)...)
		if err != nil {
			t.Fatalf("movescu: %v\n%s", err, out)
		}
		checkReceived(t, "storescp +xa", receivedFiles(t, all), objs, acceptsAll)
		// The final response's counts, as movescu -d dumps them (PS3.7 9.1.4.1.2), after
		// a pending response per sub-operation but the last.
		if m := regexp.MustCompile(`Completed Suboperations\s*: (\d+)`).FindAllStringSubmatch(out, -1); len(m) != len(objs) || m[len(m)-1][1] != fmt.Sprint(len(objs)) {
			t.Errorf("movescu: want %d completed sub-operations in the final response:\n%s", len(objs), out)
		}
	})
	t.Run("move re-encoded", func(t *testing.T) {
		out, err := runRetrieveTool(t, "movescu", append([]string{"-aet", "WS", "-aec", "PACSD", "-aem", "PLAINSCP"}, append(keys, host, port)...)...)
		if err != nil {
			t.Fatalf("movescu: %v\n%s", err, out)
		}
		checkReceived(t, "storescp (uncompressed only)", receivedFiles(t, plain), objs, acceptsUncompressed)
	})
	t.Run("unknown destination", func(t *testing.T) {
		out, _ := runRetrieveTool(t, "movescu", append([]string{"-aet", "WS", "-aec", "PACSD", "-aem", "NOWHERE"}, append(keys, host, port)...)...)
		if !regexp.MustCompile(`(?i)0x0?a801|MoveDestinationUnknown|Move Destination Unknown`).MatchString(out) {
			t.Fatalf("movescu to an unregistered destination: want 0xA801\n%s", out)
		}
	})
	t.Run("not allowed", func(t *testing.T) {
		out, _ := runRetrieveTool(t, "movescu", append([]string{"-aet", "MODALITY", "-aec", "PACSD", "-aem", "ALLSCP"}, append(keys, host, port)...)...)
		if !regexp.MustCompile(`(?i)status: 0x0?124\b`).MatchString(out) {
			t.Fatalf("movescu by a peer without the retrieve right: want 0x0124\n%s", out)
		}
	})
	t.Run("get", func(t *testing.T) {
		dir := t.TempDir()
		// getscu proposes one context per SOP class, in the uncompressed syntaxes; pacsd
		// accepts Explicit VR Little Endian for it, so the other objects come re-encoded.
		out, err := runRetrieveTool(t, "getscu", append([]string{"-aet", "WS", "-aec", "PACSD", "+B", "-od", dir}, append(keys, host, port)...)...)
		if err != nil {
			t.Fatalf("getscu: %v\n%s", err, out)
		}
		checkReceived(t, "getscu", receivedFiles(t, dir), objs, acceptsExplicitLE)
	})
}

// TestRetrieveOrthanc: Orthanc 1.10 asks pacsd, over its REST API, to C-MOVE a study to
// itself (pacsd as its Q/R SCP, Orthanc as the registered destination), and what Orthanc
// stores is what pacsd stored, byte for byte.
func TestRetrieveOrthanc(t *testing.T) {
	needTool(t, "movescu")
	objs := loadObjects(t, retrieveObjects)
	o := startOrthanc(t, "", nil)
	peers := writePeersFile(t,
		map[string]any{"aeTitle": "MODALITY", "mayStore": true},
		map[string]any{"aeTitle": "WS", "mayRetrieve": true},
		map[string]any{"aeTitle": "ORTHANC", "host": "127.0.0.1", "port": mustAtoi(t, o.dicomPort), "mayQuery": true, "mayRetrieve": true, "destination": true},
	)
	n := startPacsd(t, t.TempDir(), "--peers-file", peers)
	sendTo(t, n, "MODALITY", objs)
	// pacsd in Orthanc's modalities, now that its port is known.
	modality, _ := json.Marshal(map[string]any{"AET": "PACSD", "Host": "127.0.0.1", "Port": mustAtoi(t, n.dicomPort)})
	if b, code := o.call(t, "PUT", "/modalities/pacsd", modality); code != 200 {
		t.Fatalf("Orthanc: register pacsd: HTTP %d\n%s", code, b)
	}

	// Orthanc as the Q/R client: one study by its REST API (a synchronous job).
	first := objs[0].study
	var firstObjs, rest []sentObject
	for _, ob := range objs {
		if ob.study == first {
			firstObjs = append(firstObjs, ob)
		} else {
			rest = append(rest, ob)
		}
	}
	body, _ := json.Marshal(map[string]any{"Level": "Study", "Resources": []map[string]string{{"StudyInstanceUID": first}}, "TargetAet": "ORTHANC", "Synchronous": true})
	if b, code := o.call(t, "POST", "/modalities/pacsd/move", body); code != 200 {
		t.Fatalf("Orthanc move from pacsd: HTTP %d\n%s", code, b)
	}
	checkOrthanc(t, o, firstObjs)

	// Orthanc as the destination of a C-MOVE movescu asks for: the other studies.
	if len(rest) > 0 {
		out, err := runRetrieveTool(t, "movescu", append([]string{"-aet", "WS", "-aec", "PACSD", "-aem", "ORTHANC"}, append(studyKeys(rest), "127.0.0.1", n.dicomPort)...)...)
		if err != nil {
			t.Fatalf("movescu: %v\n%s", err, out)
		}
	}
	checkOrthanc(t, o, objs)
}

// checkOrthanc checks that Orthanc holds exactly objs, each what pacsd stored: the same
// syntax and values, and the same data set bytes but where Orthanc's DCMTK re-encodes
// (compareCopy: undefined-length sequences get lengths).
func checkOrthanc(t *testing.T, o *orthanc, objs []sentObject) {
	t.Helper()
	held := o.instancesBySOP(t)
	if len(held) != len(objs) {
		t.Errorf("Orthanc holds %d objects, want %d", len(held), len(objs))
	}
	for _, ob := range objs {
		id, ok := held[ob.sop]
		if !ok {
			t.Errorf("Orthanc did not receive %s", filepath.Base(ob.path))
			continue
		}
		b, code := o.call(t, "GET", "/instances/"+id+"/file", nil)
		if code != 200 {
			t.Fatalf("Orthanc instance %s: HTTP %d", id, code)
		}
		compareCopy(t, filepath.Base(ob.path), ob.part10, b, false)
	}
}

// TestRetrieveEvicted: objects whose local copy is gone (uploaded to MinIO, --cache-max-mb 0)
// are moved from the bucket, streamed, byte for byte.
func TestRetrieveEvicted(t *testing.T) {
	needTool(t, "movescu", "storescp")
	srv := miniotest.Start(t)
	t.Setenv(envS3AccessKey, srv.AccessKey)
	t.Setenv(envS3SecretKey, srv.SecretKey)
	objs := loadObjects(t, retrieveObjects)
	dir := t.TempDir()
	scpPort := startStorescp(t, dir, "ALLSCP", "+B", "+xa")
	peers := writePeersFile(t,
		map[string]any{"aeTitle": "WS", "mayStore": true, "mayRetrieve": true},
		map[string]any{"aeTitle": "ALLSCP", "host": "127.0.0.1", "port": mustAtoi(t, scpPort), "destination": true},
	)
	n := startPacsd(t, t.TempDir(), "--peers-file", peers,
		"--s3-endpoint", srv.Endpoint, "--s3-bucket", "county-retrieve", "--cache-max-mb", "0")
	sendTo(t, n, "WS", objs)
	n.waitMetric(t, "pacsd_spool_pending_objects", func(v float64) bool { return v == 0 }, 2*time.Minute)
	n.waitMetric(t, "pacsd_local_bytes", func(v float64) bool { return v == 0 }, time.Minute)

	out, err := runRetrieveTool(t, "movescu", append([]string{"-aet", "WS", "-aec", "PACSD", "-aem", "ALLSCP"}, append(studyKeys(objs), "127.0.0.1", n.dicomPort)...)...)
	if err != nil {
		t.Fatalf("movescu: %v\n%s", err, out)
	}
	checkReceived(t, "storescp (from the bucket)", receivedFiles(t, dir), objs, acceptsAll)
}
