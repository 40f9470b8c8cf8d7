package dicomweb

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

// Transcoding on retrieval (PS3.18 8.7.3.4): what pacsd sends in Explicit VR Little Endian
// must be a valid object to DCMTK and decode, with DCMTK, to the samples DCMTK decodes from
// the stored object.

const (
	acceptLE       = `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`
	acceptDefault  = `multipart/related; type="application/dicom"`
	acceptFramesLE = `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1`
)

// dcmtkSamples decodes every frame of a Part-10 file with DCMTK and returns its samples as
// DCMTK writes them with the modality and VOI transforms off (-M -W), an identity
// presentation (+Pid) and the stored depth (+opn bits): stored values for greyscale, RGB
// after DCMTK's own colour conversion. JPEG 2000, which DCMTK does not read, is first made
// native by GDCM.
func dcmtkSamples(t *testing.T, path string) []int {
	t.Helper()
	hdr := readHeader(t, path)
	tool := "dcmj2pnm"
	switch hdr.TransferSyntax {
	case dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian, "1.2.840.10008.1.2.2", dicom.DeflatedExplicitVRLittleEndian:
		tool = "dcm2pnm"
	case dicom.JPEGLSLossless, dicom.JPEGLSNearLossless:
		tool = "dcml2pnm"
	case dicom.JPEG2000, dicom.JPEG2000Lossless:
		raw := filepath.Join(t.TempDir(), "gdcm_raw.dcm")
		if out, err := exec.Command(needTool(t, "gdcmconv"), "--raw", path, raw).CombinedOutput(); err != nil {
			t.Fatalf("gdcmconv --raw: %v\n%s", err, out)
		}
		path, tool = raw, "dcm2pnm"
	}
	// The stored depth of the file the tool reads (GDCM's native copy of a JPEG 2000 file
	// may declare another than the original).
	bits, ok := readHeader(t, path).Dataset.Int(dicom.TagBitsStored)
	if !ok {
		t.Fatalf("%s: no Bits Stored", path)
	}
	dir := t.TempDir()
	args := []string{"+Fa", "-M", "-W", "+Pid", "+opn", strconv.Itoa(int(bits)), path, filepath.Join(dir, "f")}
	if out, err := exec.Command(needTool(t, tool), args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	// With +Fa the frames are f.0.pgm, f.1.pgm, ... (f.<n>.ppm for colour).
	var all []int
	for i := 0; ; i++ {
		matches, _ := filepath.Glob(filepath.Join(dir, "f."+strconv.Itoa(i)+".p?m"))
		if len(matches) != 1 {
			break
		}
		all = append(all, readASCIIPNM(t, matches[0])...)
	}
	if len(all) == 0 {
		t.Fatalf("%s wrote no image for %s", tool, path)
	}
	return all
}

// readASCIIPNM reads the samples of a P2 or P3 file.
func readASCIIPNM(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	sc.Split(bufio.ScanWords)
	var words []string
	for sc.Scan() {
		words = append(words, sc.Text())
	}
	if len(words) < 4 || (words[0] != "P2" && words[0] != "P3") {
		t.Fatalf("%s: not an ASCII PNM", path)
	}
	out := make([]int, 0, len(words)-4)
	for _, w := range words[4:] {
		v, err := strconv.Atoi(w)
		if err != nil {
			t.Fatalf("%s: sample %q", path, w)
		}
		out = append(out, v)
	}
	return out
}

func readHeader(t *testing.T, path string) *dicom.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := dicom.ReadPart10(f, dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

// writeTemp writes b to a file named name in a temporary folder.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkTranscoded checks a Part-10 object pacsd sent in Explicit VR Little Endian against
// the stored file name: dcmdump reads it as such, and DCMTK decodes the same samples.
func checkTranscoded(t *testing.T, name string, obj []byte) {
	t.Helper()
	path := writeTemp(t, "transcoded.dcm", obj)
	out, err := exec.Command(needTool(t, "dcmdump"), "-q", "-M", path).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("(0002,0010) UI =LittleEndianExplicit")) {
		t.Fatalf("dcmdump: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("(7fe0,0010) OW")) && !bytes.Contains(out, []byte("(7fe0,0010) OB")) {
		t.Fatalf("dcmdump finds no native Pixel Data:\n%s", out)
	}
	got := dcmtkSamples(t, path)
	want := dcmtkSamples(t, filepath.Join("../testdata", name))
	if len(got) != len(want) {
		t.Fatalf("DCMTK decodes %d samples from the transcoded object, %d from the stored one", len(got), len(want))
	}
	diff, worst := 0, 0
	for i := range got {
		if d := got[i] - want[i]; d != 0 {
			diff++
			worst = max(worst, d, -d)
		}
	}
	// DCMTK does not read JPEG 2000: the reference is GDCM's native copy, made with the
	// OpenJPEG GDCM bundles, whose irreversible (lossy) reconstruction rounds a few samples
	// differently from the system OpenJPEG pacsd links. Every other syntax is decoded by
	// DCMTK itself and must match exactly.
	allowed, allowedWorst := 0, 0
	if readHeader(t, filepath.Join("../testdata", name)).TransferSyntax == dicom.JPEG2000 {
		allowed, allowedWorst = len(got)/100, 2
	}
	if diff > allowed || worst > allowedWorst {
		t.Errorf("%d of %d samples differ from the reference decoding of the stored object (max %d)", diff, len(got), worst)
	} else if diff > 0 {
		t.Logf("%d of %d samples differ from GDCM's decoding by at most %d (lossy JPEG 2000)", diff, len(got), worst)
	}
}

func TestTranscode(t *testing.T) {
	needTool(t, "dcmdump")
	needTool(t, "dcm2pnm")
	names := []string{
		"ts_jpeg_baseline.dcm", "ts_jpeg_extended.dcm", "ts_jpeg_lossless.dcm", "ts_jpeg_lossless_sv1.dcm",
		"ts_jpegls_lossless.dcm", "ts_jpegls_near.dcm", "ts_j2k_lossless.dcm", "ts_j2k.dcm", "ts_rle.dcm",
		"ts_implicit_le.dcm", "ts_explicit_be.dcm", "ts_deflated.dcm", "dr_mono1.dcm", "us_multiframe_jpeg.dcm",
		"dr_mono2.dcm", "sr_basic_text.dcm",
	}
	f := newFixture(t, names...)

	t.Run("instances", func(t *testing.T) {
		for _, name := range names[:len(names)-2] {
			t.Run(name, func(t *testing.T) {
				r := get(t, http.MethodGet, f.instanceURL(name), map[string]string{"Accept": acceptLE})
				if r.status != http.StatusOK {
					t.Fatalf("%d %s", r.status, r.body)
				}
				ts, bodies := parts(t, r)
				if len(bodies) != 1 || ts[0] != dicom.ExplicitVRLittleEndian {
					t.Fatalf("%d parts, transfer syntax %v", len(bodies), ts)
				}
				checkTranscoded(t, name, bodies[0])
			})
		}
	})

	// JPEG Baseline for a viewer that asks for it: 8-bit images only (PS3.18 8.7.3.5.2).
	t.Run("JPEG baseline", func(t *testing.T) {
		acceptJPEG := `multipart/related; type="application/dicom"; transfer-syntax=` + dicom.JPEGBaseline8Bit
		needTool(t, "dcmj2pnm")
		for _, name := range []string{"us_multiframe_jpeg.dcm", "ts_rle.dcm"} {
			r := get(t, http.MethodGet, f.instanceURL(name), map[string]string{"Accept": acceptJPEG})
			if name == "ts_rle.dcm" { // 12-bit DR: no JPEG Baseline for it
				if r.status != http.StatusNotAcceptable {
					t.Errorf("%s as JPEG Baseline: %d, want 406", name, r.status)
				}
				continue
			}
			if r.status != http.StatusOK {
				t.Fatalf("%s as JPEG Baseline: %d %s", name, r.status, r.body)
			}
			ts, bodies := parts(t, r)
			if len(bodies) != 1 || ts[0] != dicom.JPEGBaseline8Bit {
				t.Fatalf("%s: %d parts in %v", name, len(bodies), ts)
			}
			// DCMTK decodes what we wrote; it is the original within JPEG's loss.
			got := dcmtkSamples(t, writeTemp(t, "jpeg.dcm", bodies[0]))
			want := dcmtkSamples(t, "../testdata/"+name)
			if len(got) != len(want) {
				t.Fatalf("%s: %d samples, original %d", name, len(got), len(want))
			}
			var sum int
			for i := range got {
				sum += max(got[i]-want[i], want[i]-got[i])
			}
			if mean := float64(sum) / float64(len(got)); mean > 3 {
				t.Errorf("%s: JPEG Baseline differs from the original by %.2f levels on average", name, mean)
			}
		}
	})

	t.Run("default transfer syntax", func(t *testing.T) {
		for _, tt := range []struct {
			name       string
			transcoded bool
		}{
			{"ts_jpeg_lossless.dcm", true},  // lossless: the default, Explicit VR Little Endian
			{"ts_implicit_le.dcm", true},    // so is Implicit VR Little Endian
			{"ts_jpeg_baseline.dcm", false}, // lossy: as stored (PS3.18 8.7.3.4)
			{"ts_j2k.dcm", false},
			{"dr_mono2.dcm", false},      // already Explicit VR Little Endian
			{"sr_basic_text.dcm", false}, // likewise
		} {
			r := get(t, http.MethodGet, f.instanceURL(tt.name), map[string]string{"Accept": acceptDefault})
			ts, bodies := parts(t, r)
			stored := sha(bodies[0]) == sha(f.files[tt.name])
			if tt.transcoded == stored || (tt.transcoded && ts[0] != dicom.ExplicitVRLittleEndian) {
				t.Errorf("%s: part in %s, stored bytes %v; want transcoded %v", tt.name, ts[0], stored, tt.transcoded)
			}
		}
	})

	t.Run("study", func(t *testing.T) {
		e := f.expected["dr_mono2.dcm"]
		r := get(t, http.MethodGet, f.url+"/dicomweb/studies/"+e.StudyInstanceUID+"/series/"+e.SeriesInstanceUID, map[string]string{"Accept": acceptLE})
		ts, bodies := parts(t, r)
		want := f.filesWhere(func(x expectedFile) bool { return x.SeriesInstanceUID == e.SeriesInstanceUID })
		if r.status != http.StatusOK || len(bodies) != len(want) {
			t.Fatalf("%d, %d parts, want %d", r.status, len(bodies), len(want))
		}
		// Every part is the same picture: dr_mono2 in one syntax or another. The lossless
		// ones decode, with DCMTK, to dr_mono2's samples.
		ref := dcmtkSamples(t, "../testdata/dr_mono2.dcm")
		lossless := 0
		for i, b := range bodies {
			if ts[i] != dicom.ExplicitVRLittleEndian {
				t.Errorf("part %d in %s", i, ts[i])
				continue
			}
			got := dcmtkSamples(t, writeTemp(t, "part.dcm", b))
			if len(got) == len(ref) && slicesEqual(got, ref) {
				lossless++
			}
		}
		if lossless < 8 { // dr_mono2, explicit/implicit/BE/deflated, JPEG lossless x2, JPEG-LS, J2K lossless, RLE
			t.Errorf("%d parts decode to dr_mono2's samples, want at least 8", lossless)
		}
	})

	t.Run("not decodable", func(t *testing.T) {
		// A 1-bit image (a segmentation, say) in Implicit VR Little Endian: dicom/pixel
		// does not decode 1-bit pixels, so it cannot be rewritten.
		g := imageObject("1.2.826.0.1.3680043.10.8.1", "1.2.826.0.1.3680043.10.8", "1.2.826.0.1.3680043.10.8.2", 16, 16, 1)
		g.ts = dicom.ImplicitVRLittleEndian
		g.pixelLen = 32
		for i, el := range g.elements {
			switch el.tag {
			case dicom.TagBitsAllocated, dicom.TagBitsStored:
				g.elements[i].value = []byte(us16(1))
			case 0x00280102:
				g.elements[i].value = []byte(us16(0))
			}
		}
		obj := g.bytes(t)
		if _, err := f.archive.Put(context.Background(), bytes.NewReader(obj), store.PutRequest{}); err != nil {
			t.Fatal(err)
		}
		u := f.url + "/dicomweb/studies/" + g.study + "/series/" + g.series + "/instances/" + g.sop
		if r := get(t, http.MethodGet, u, map[string]string{"Accept": acceptLE}); r.status != http.StatusNotAcceptable || !strings.Contains(string(r.body), "transfer-syntax=*") {
			t.Errorf("named Explicit VR Little Endian: %d %s", r.status, r.body)
		}
		r := get(t, http.MethodGet, u, map[string]string{"Accept": acceptDefault})
		if _, bodies := parts(t, r); r.status != http.StatusOK || len(bodies) != 1 || !bytes.Equal(bodies[0], obj) {
			t.Errorf("default: %d; want the stored object", r.status)
		}
		// WADO-URI: the same choices.
		q := url.Values{"requestType": {"WADO"}, "studyUID": {g.study}, "seriesUID": {g.series}, "objectUID": {g.sop}, "contentType": {"application/dicom"}}
		if r := get(t, http.MethodGet, f.url+"/dicomweb/wado?"+q.Encode()+"&transferSyntax=1.2.840.10008.1.2.1", nil); r.status != http.StatusNotAcceptable {
			t.Errorf("WADO-URI named Explicit VR Little Endian: %d", r.status)
		}
		if r := get(t, http.MethodGet, f.url+"/dicomweb/wado?"+q.Encode(), nil); r.status != http.StatusOK || !bytes.Equal(r.body, obj) {
			t.Errorf("WADO-URI default: %d", r.status)
		}
	})

	t.Run("HEAD and validators", func(t *testing.T) {
		u := f.instanceURL("ts_jpeg_lossless.dcm")
		g := get(t, http.MethodGet, u, map[string]string{"Accept": acceptLE})
		h := get(t, http.MethodHead, u, map[string]string{"Accept": acceptLE})
		if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("ETag") != g.header.Get("ETag") || h.header.Get("Content-Length") != "" {
			t.Errorf("HEAD: %d, ETag %q vs %q, Content-Length %q", h.status, h.header.Get("ETag"), g.header.Get("ETag"), h.header.Get("Content-Length"))
		}
		if r := get(t, http.MethodGet, u, map[string]string{"Accept": acceptLE, "If-None-Match": g.header.Get("ETag")}); r.status != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", r.status)
		}
		if r := get(t, http.MethodGet, u, map[string]string{"Accept": acceptAnyTS, "If-None-Match": g.header.Get("ETag")}); r.status != http.StatusOK {
			t.Errorf("the transcoded ETag matched the stored representation: %d", r.status)
		}
	})

	t.Run("WADO-URI", func(t *testing.T) {
		for _, tt := range []struct {
			name, ts   string
			transcoded bool
		}{
			{"ts_jpeg_lossless.dcm", "1.2.840.10008.1.2.1", true},
			{"ts_jpeg_lossless.dcm", "", true}, // PS3.18 9.4.2.4: the default syntax
			{"ts_jpeg_baseline.dcm", "1.2.840.10008.1.2.1", true},
			{"ts_jpeg_baseline.dcm", "", false}, // lossy: as stored
			{"ts_explicit_be.dcm", "", true},
		} {
			q := url.Values{"contentType": {"application/dicom"}}
			if tt.ts != "" {
				q.Set("transferSyntax", tt.ts)
			}
			r := get(t, http.MethodGet, f.wadoURI(tt.name, q), nil)
			if r.status != http.StatusOK || r.header.Get("Content-Type") != mediaDicom {
				t.Fatalf("%s %s: %d %s", tt.name, tt.ts, r.status, r.body)
			}
			if stored := bytes.Equal(r.body, f.files[tt.name]); stored == tt.transcoded {
				t.Errorf("%s transferSyntax=%q: stored bytes %v", tt.name, tt.ts, stored)
			} else if tt.transcoded {
				checkTranscoded(t, tt.name, r.body)
			}
		}
		h := get(t, http.MethodHead, f.wadoURI("ts_rle.dcm", url.Values{"contentType": {"application/dicom"}}), nil)
		if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("Content-Type") != mediaDicom {
			t.Errorf("HEAD transcoded: %d %q", h.status, h.header.Get("Content-Type"))
		}
	})

	t.Run("frames", func(t *testing.T) {
		// Lossless JPEG of dr_mono2: decoded frames are dr_mono2's native pixel bytes.
		orig := f.expectedFrames(t, "dr_mono2.dcm")[0]
		for _, name := range []string{"ts_jpeg_lossless.dcm", "ts_jpegls_lossless.dcm", "ts_j2k_lossless.dcm", "ts_rle.dcm"} {
			r := get(t, http.MethodGet, f.instanceURL(name)+"/frames/1", map[string]string{"Accept": acceptFramesLE})
			_, ps := frameParts(t, r)
			if r.status != http.StatusOK || len(ps) != 1 || ps[0].contentType != "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1" {
				t.Fatalf("%s: %d, %d parts", name, r.status, len(ps))
			}
			if !bytes.Equal(ps[0].body, orig) {
				t.Errorf("%s: decoded frame differs from the original pixels", name)
			}
			if r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
				t.Errorf("%s: Content-Length %q for %d bytes", name, r.header.Get("Content-Length"), len(r.body))
			}
		}
		// Lossy colour JPEG (YBR_FULL_422): RGB samples, as DCMTK decodes them.
		want := dcmtkSamples(t, "../testdata/us_multiframe_jpeg.dcm")
		frame := 160 * 120 * 3
		r := get(t, http.MethodGet, f.instanceURL("us_multiframe_jpeg.dcm")+"/frames/2,4", map[string]string{"Accept": acceptFramesLE})
		_, ps := frameParts(t, r)
		if len(ps) != 2 {
			t.Fatalf("%d parts", len(ps))
		}
		for i, k := range []int{2, 4} {
			if !slicesEqual(bytesToInts(ps[i].body), want[(k-1)*frame:k*frame]) {
				t.Errorf("frame %d differs from DCMTK's decoding", k)
			}
		}
		// One frame, one body, for a client that accepts plain octet-stream.
		r = get(t, http.MethodGet, f.instanceURL("ts_jpeg_baseline.dcm")+"/frames/1", map[string]string{"Accept": "application/octet-stream"})
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1" ||
			!slicesEqual(bytesToInts(r.body), dcmtkSamples(t, "../testdata/ts_jpeg_baseline.dcm")) {
			t.Errorf("single body: %d %q", r.status, r.header.Get("Content-Type"))
		}
		h := get(t, http.MethodHead, f.instanceURL("ts_jpeg_baseline.dcm")+"/frames/1", map[string]string{"Accept": "application/octet-stream"})
		if h.header.Get("Content-Length") != strconv.Itoa(len(r.body)) || h.header.Get("ETag") != r.header.Get("ETag") {
			t.Errorf("HEAD: Content-Length %q, ETag %q", h.header.Get("Content-Length"), h.header.Get("ETag"))
		}
		stored := get(t, http.MethodGet, f.instanceURL("ts_jpeg_baseline.dcm")+"/frames/1", map[string]string{"Accept": acceptOHIF})
		if stored.header.Get("ETag") == r.header.Get("ETag") {
			t.Error("decoded and stored frames share an ETag")
		}
		// Only Explicit VR Little Endian is produced.
		if r := get(t, http.MethodGet, f.instanceURL("ts_rle.dcm")+"/frames/1", map[string]string{
			"Accept": `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.80`}); r.status != http.StatusNotAcceptable {
			t.Errorf("JPEG-LS from RLE: %d", r.status)
		}
	})
}

func bytesToInts(b []byte) []int {
	out := make([]int, len(b))
	for i, v := range b {
		out[i] = int(v)
	}
	return out
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
