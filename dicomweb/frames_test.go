package dicomweb

import (
	"bufio"
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

// acceptOHIF is what OHIF v3 (cornerstone's WADO-RS loader) sends for frames.
const acceptOHIF = "multipart/related; type=application/octet-stream; transfer-syntax=*"

// framePart is one part of a frames response.
type framePart struct {
	contentType string
	body        []byte
}

// frameParts reads a multipart/related frames response.
func frameParts(t *testing.T, r response) (string, []framePart) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", r.header.Get("Content-Type"), err)
	}
	var out []framePart
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return params["type"], out
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(out), err)
		}
		b, _ := io.ReadAll(p)
		if cl := p.Header.Get("Content-Length"); cl != strconv.Itoa(len(b)) {
			t.Errorf("part Content-Length %q, body %d bytes", cl, len(b))
		}
		out = append(out, framePart{p.Header.Get("Content-Type"), b})
	}
}

// cornerstoneExtract takes a frames response apart the way cornerstone's WADO-RS image
// loader does (getPixelData/extractMultipart): the first CRLFCRLF ends the part header,
// the first header line starting "--" is the boundary, the first line starting exactly
// "Content-Type:" is the type, and the pixel data runs to the next boundary minus CRLF.
// Its transfer syntax is the transfer-syntax parameter of that type.
func cornerstoneExtract(t *testing.T, contentType string, body []byte) (ts string, pixels []byte) {
	t.Helper()
	if !strings.Contains(contentType, "multipart") {
		return paramTS(contentType), body
	}
	tok := bytes.Index(body, []byte("\r\n\r\n"))
	if tok < 0 {
		t.Fatal("cornerstone: no multipart mime header")
	}
	lines := strings.Split(string(body[:tok]), "\r\n")
	var boundary, ct string
	for _, l := range lines {
		if boundary == "" && strings.HasPrefix(l, "--") {
			boundary = l
		}
		if ct == "" && strings.HasPrefix(l, "Content-Type:") {
			ct = strings.TrimSpace(l[len("Content-Type:"):])
		}
	}
	if boundary == "" {
		t.Fatal("cornerstone: no boundary marker")
	}
	off := tok + 4
	end := bytes.Index(body[off:], []byte(boundary))
	if end < 0 {
		t.Fatal("cornerstone: terminating boundary not found")
	}
	return paramTS(ct), body[off : off+end-2]
}

// paramTS is cornerstone's getTransferSyntaxForContentType for a type that names one.
func paramTS(ct string) string {
	for _, p := range strings.Split(ct, ";") {
		kv := strings.Split(p, "=")
		if len(kv) == 2 && strings.TrimSpace(kv[0]) == "transfer-syntax" {
			return strings.ReplaceAll(strings.TrimSpace(kv[1]), `"`, "")
		}
	}
	return "1.2.840.10008.1.2"
}

// expectedFrames cuts DCMTK's view of a file's pixel data into frames.
func (f *fixture) expectedFrames(t *testing.T, name string) [][]byte {
	t.Helper()
	e := f.expected[name]
	items := dcmdumpPixelItems(t, filepath.Join("../testdata", name))
	n := atoiOr(e.NumberOfFrames, 1)
	ts, _ := dicom.LookupTransferSyntax(e.TransferSyntaxUID)
	if !ts.Encapsulated {
		if len(items) != 1 {
			t.Fatalf("dcmdump wrote %d pixel items for native data", len(items))
		}
		size := atoiOr(e.Rows, 0) * atoiOr(e.Columns, 0) * atoiOr(e.SamplesPerPixel, 1) * atoiOr(e.BitsAllocated, 0) / 8
		var out [][]byte
		for i := 0; i < n; i++ {
			out = append(out, items[0][i*size:(i+1)*size])
		}
		return out
	}
	frags := items[1:]
	switch {
	case n == 1:
		return [][]byte{bytes.Join(frags, nil)}
	case len(frags) == n:
		return frags
	}
	t.Fatalf("%s: %d fragments for %d frames", name, len(frags), n)
	return nil
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return n
	}
	return def
}

func frameList(n int) string {
	var b []string
	for i := 1; i <= n; i++ {
		b = append(b, strconv.Itoa(i))
	}
	return strings.Join(b, ",")
}

func testFrames(t *testing.T, f *fixture) {
	images := f.filesWhere(func(e expectedFile) bool { return e.Rows != "" })
	if len(images) < 15 {
		t.Fatalf("only %d images in the corpus", len(images))
	}
	for _, name := range images {
		t.Run(name, func(t *testing.T) {
			e := f.expected[name]
			want := f.expectedFrames(t, name)
			ts, _ := dicom.LookupTransferSyntax(e.TransferSyntaxUID)
			wantTS := e.TransferSyntaxUID
			if !ts.Encapsulated {
				wantTS = dicom.ExplicitVRLittleEndian // uncompressed frames go out little endian
			}
			r := get(t, http.MethodGet, f.instanceURL(name)+"/frames/"+frameList(len(want)), map[string]string{"Accept": acceptOHIF})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			typ, parts := frameParts(t, r)
			if typ != mediaOctetStream || len(parts) != len(want) {
				t.Fatalf("type %q, %d parts; want %s, %d", typ, len(parts), mediaOctetStream, len(want))
			}
			for i, p := range parts {
				if p.contentType != mediaOctetStream+"; transfer-syntax="+wantTS {
					t.Errorf("frame %d Content-Type %q", i+1, p.contentType)
				}
				if !bytes.Equal(p.body, want[i]) {
					t.Errorf("frame %d: %d bytes differ from DCMTK's %d", i+1, len(p.body), len(want[i]))
				}
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length %q, body %d", cl, len(r.body))
			}

			// Each frame alone, as OHIF fetches them, read the way cornerstone reads it.
			for n := 1; n <= len(want); n++ {
				r := get(t, http.MethodGet, f.instanceURL(name)+"/frames/"+strconv.Itoa(n), map[string]string{"Accept": acceptOHIF})
				if r.status != http.StatusOK {
					t.Fatalf("frame %d: status %d", n, r.status)
				}
				gotTS, px := cornerstoneExtract(t, r.header.Get("Content-Type"), r.body)
				if gotTS != wantTS || !bytes.Equal(px, want[n-1]) {
					t.Errorf("frame %d as cornerstone reads it: ts %s, %d bytes (want %s, %d)", n, gotTS, len(px), wantTS, len(want[n-1]))
				}
			}

			// Real decoders accept the frames: Go's JPEG decoder for baseline, OpenJPEG for
			// JPEG 2000 (whose lossless frames must give back the original pixels).
			switch e.TransferSyntaxUID {
			case dicom.JPEGBaseline8Bit:
				for i, p := range parts {
					img, err := jpeg.Decode(bytes.NewReader(p.body))
					if err != nil {
						t.Fatalf("frame %d: %v", i+1, err)
					}
					if b := img.Bounds(); b.Dx() != atoiOr(e.Columns, 0) || b.Dy() != atoiOr(e.Rows, 0) {
						t.Errorf("frame %d decodes to %v", i+1, b)
					}
				}
			case dicom.JPEG2000Lossless, dicom.JPEG2000:
				px := decodeJ2K(t, parts[0].body)
				if e.TransferSyntaxUID == dicom.JPEG2000Lossless {
					orig := f.expectedFrames(t, "dr_mono2.dcm")[0]
					if !bytes.Equal(px, orig) {
						t.Error("JPEG 2000 lossless frame does not decode to the original pixels")
					}
				} else if len(px) != len(want[0])*0+atoiOr(e.Rows, 0)*atoiOr(e.Columns, 0)*2 {
					t.Errorf("decoded %d bytes", len(px))
				}
			}
		})
	}

	t.Run("negotiation", func(t *testing.T) {
		const (
			octet  = `multipart/related; type="application/octet-stream"`
			single = "single"
		)
		tests := []struct {
			file, frames, accept string
			status               int
			wantType             string // part (or single body) Content-Type
			single               bool
		}{
			{"ts_jpeg_baseline.dcm", "1", "", 200, "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50", false},
			{"ts_jpeg_baseline.dcm", "1", "*/*", 200, "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50", false},
			// Uncompressed wanted: decoded (transcode_test.go checks the samples).
			{"ts_jpeg_baseline.dcm", "1", octet, 200, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", false},
			{"ts_jpeg_baseline.dcm", "1", `multipart/related; type="image/jpeg"`, 200, "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50", false},
			{"ts_jpeg_baseline.dcm", "1", "image/jpeg", 200, "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50", true},
			{"ts_jpeg_baseline.dcm", "1", "image/*", 200, "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50", true},
			{"ts_jpeg_lossless.dcm", "1", `multipart/related; type="image/jpeg"`, 406, "", false}, // image/jpeg means .50
			{"ts_jpeg_lossless.dcm", "1", `multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.57`, 200,
				"image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.57", false},
			{"ts_jpeg_lossless_sv1.dcm", "1", `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.70`, 200,
				"application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.70", false},
			{"ts_jpegls_lossless.dcm", "1", `multipart/related; type="image/x-jls"`, 200, "image/jls; transfer-syntax=1.2.840.10008.1.2.4.80", false},
			{"ts_jpegls_near.dcm", "1", `multipart/related; type="image/jls"`, 406, "", false}, // image/jls means .80
			{"ts_j2k_lossless.dcm", "1", `multipart/related; type="image/jp2"`, 200, "image/jp2; transfer-syntax=1.2.840.10008.1.2.4.90", false},
			{"ts_rle.dcm", "1", `multipart/related; type="image/dicom-rle"`, 200, "image/dicom-rle; transfer-syntax=1.2.840.10008.1.2.5", false},
			{"ts_rle.dcm", "1", `multipart/related; type="image/jpeg"; transfer-syntax=*`, 406, "", false},
			{"dr_mono2.dcm", "1", "application/octet-stream", 200, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", true},
			{"dr_mono2.dcm", "1", octet, 200, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", false},
			{"dr_mono2.dcm", "1", octet + "; transfer-syntax=1.2.840.10008.1.2", 200, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2", false},
			{"dr_mono2.dcm", "1", octet + "; transfer-syntax=1.2.840.10008.1.2.4.50", 406, "", false},
			{"dr_mono2.dcm", "1", "image/jpeg", 406, "", false}, // rendering is another resource
			{"ts_explicit_be.dcm", "1", octet + "; transfer-syntax=1.2.840.10008.1.2.2", 406, "", false},
			{"us_multiframe.dcm", "1,2", "application/octet-stream", 406, "", false}, // one body holds one frame
			{"us_multiframe.dcm", "1,2", "application/octet-stream;q=0.9, " + octet + ";q=0.5", 200, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", false},
			{"us_multiframe.dcm", "2", "application/octet-stream;q=0.5, " + octet, 200, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", false},
			{"us_multiframe.dcm", "2", "application/octet-stream, " + octet + ";q=0.5", 200, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", true},
		}
		for _, tt := range tests {
			t.Run(tt.file+" "+tt.accept, func(t *testing.T) {
				r := get(t, http.MethodGet, f.instanceURL(tt.file)+"/frames/"+tt.frames, map[string]string{"Accept": tt.accept})
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				if tt.status != http.StatusOK {
					return
				}
				want := f.expectedFrames(t, tt.file)
				first := atoiOr(strings.Split(tt.frames, ",")[0], 1)
				e := f.expected[tt.file]
				if stored, _ := dicom.LookupTransferSyntax(e.TransferSyntaxUID); stored.Encapsulated && strings.HasSuffix(tt.wantType, "="+dicom.ExplicitVRLittleEndian) {
					// Decoded frames: the size of native samples.
					want[first-1] = make([]byte, atoiOr(e.Rows, 0)*atoiOr(e.Columns, 0)*atoiOr(e.SamplesPerPixel, 1)*atoiOr(e.BitsAllocated, 0)/8)
					_, ps := frameParts(t, r)
					if len(ps) != 1 || ps[0].contentType != tt.wantType || len(ps[0].body) != len(want[first-1]) {
						t.Errorf("decoded parts %d, first %q", len(ps), ps[0].contentType)
					}
					return
				}
				if tt.single {
					if ct := r.header.Get("Content-Type"); ct != tt.wantType || !bytes.Equal(r.body, want[first-1]) {
						t.Errorf("single body %q, %d bytes", ct, len(r.body))
					}
					return
				}
				_, parts := frameParts(t, r)
				if len(parts) == 0 || parts[0].contentType != tt.wantType || !bytes.Equal(parts[0].body, want[first-1]) {
					t.Errorf("parts %d, first %q", len(parts), parts[0].contentType)
				}
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		us := f.instanceURL("us_multiframe.dcm")
		for _, tt := range []struct {
			name, url string
			status    int
		}{
			{"frame 0", us + "/frames/0", http.StatusBadRequest},
			{"not a number", us + "/frames/one", http.StatusBadRequest},
			{"empty element", us + "/frames/1,,2", http.StatusBadRequest},
			{"beyond the last frame", us + "/frames/1,9", http.StatusNotFound},
			{"no pixel data", f.instanceURL("sr_basic_text.dcm") + "/frames/1", http.StatusNotFound},
			{"unknown instance", f.url + "/dicomweb/studies/1.2/series/1.3/instances/1.4/frames/1", http.StatusNotFound},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := get(t, http.MethodGet, tt.url, map[string]string{"Accept": acceptOHIF})
				if r.status != tt.status || !strings.Contains(r.header.Get("Content-Type"), "json") {
					t.Errorf("status %d (%s), want %d: %s", r.status, r.header.Get("Content-Type"), tt.status, r.body)
				}
			})
		}
	})

	t.Run("HEAD and validators", func(t *testing.T) {
		u := f.instanceURL("us_multiframe_jpeg.dcm") + "/frames/2,4"
		g := get(t, http.MethodGet, u, map[string]string{"Accept": acceptOHIF})
		h := get(t, http.MethodHead, u, map[string]string{"Accept": acceptOHIF})
		if h.status != 200 || len(h.body) != 0 || h.header.Get("Content-Length") != strconv.Itoa(len(g.body)) || h.header.Get("ETag") != g.header.Get("ETag") {
			t.Errorf("HEAD %d, Content-Length %q (GET body %d), ETag %q vs %q", h.status, h.header.Get("Content-Length"), len(g.body), h.header.Get("ETag"), g.header.Get("ETag"))
		}
		if r := get(t, http.MethodGet, u, map[string]string{"Accept": acceptOHIF, "If-None-Match": g.header.Get("ETag")}); r.status != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", r.status)
		}
		if other := get(t, http.MethodHead, f.instanceURL("us_multiframe_jpeg.dcm")+"/frames/2", map[string]string{"Accept": acceptOHIF}); other.header.Get("ETag") == g.header.Get("ETag") {
			t.Error("two frame lists share an ETag")
		}
	})
}

// decodeJ2K decodes a JPEG 2000 codestream with OpenJPEG's opj_decompress and returns the
// samples of the grey image as 16-bit little-endian values.
func decodeJ2K(t *testing.T, code []byte) []byte {
	t.Helper()
	tool := needTool(t, "opj_decompress")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "f.j2k"), filepath.Join(dir, "f.pgm")
	if err := os.WriteFile(in, code, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(tool, "-quiet", "-i", in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("opj_decompress: %v\n%s", err, b)
	}
	pgm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// P5, width, height, maxval (with '#' comment lines between), one whitespace byte,
	// then big-endian samples when maxval > 255.
	br := bufio.NewReader(bytes.NewReader(pgm))
	var fields []string
	for len(fields) < 4 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("PGM header: %v", err)
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields = append(fields, strings.Fields(line)...)
	}
	if fields[0] != "P5" {
		t.Fatalf("not a binary PGM: %q", fields)
	}
	maxv := atoiOr(fields[3], 0)
	data, _ := io.ReadAll(br)
	if maxv <= 255 {
		t.Fatalf("8-bit PGM from a 12-bit image")
	}
	for i := 0; i+1 < len(data); i += 2 {
		data[i], data[i+1] = data[i+1], data[i]
	}
	return data
}

// TestFramesFragmented: frames made of several fragments are put together from the Basic
// Offset Table, or, without one, from where each codestream starts; objects whose frames
// cannot be told apart are refused with a reason, not sent wrong.
func TestFramesFragmented(t *testing.T) {
	src, err := os.ReadFile("../testdata/us_multiframe_jpeg.dcm")
	if err != nil {
		t.Fatal(err)
	}
	items := dcmdumpPixelItems(t, "../testdata/us_multiframe_jpeg.dcm")
	frames := items[1:]
	if len(frames) != 8 {
		t.Fatalf("%d frames", len(frames))
	}
	hdr, err := dicom.ReadPart10(bytes.NewReader(src), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Each frame in two fragments, split at an even offset.
	var frags [][]byte
	var bot []uint32
	var pos uint32
	for _, fr := range frames {
		cut := len(fr) / 2 &^ 1
		bot = append(bot, pos)
		for _, part := range [][]byte{fr[:cut], fr[cut:]} {
			frags = append(frags, part)
			pos += uint32(8 + len(part))
		}
	}
	base := genObject{sopClass: "1.2.840.10008.5.1.4.1.1.3.1", study: "1.2.826.0.1.3680043.10.2.1", series: "1.2.826.0.1.3680043.10.2.2",
		ts: dicom.JPEGBaseline8Bit}
	for _, tag := range []dicom.Tag{dicom.TagSamplesPerPixel, dicom.TagPhotometricInterpretation, dicom.TagNumberOfFrames,
		dicom.TagRows, dicom.TagColumns, dicom.TagBitsAllocated, dicom.TagBitsStored, dicom.TagPixelRepresentation} {
		e := hdr.Dataset.Get(tag)
		switch {
		case e.VR == "US":
			base = base.with(tag, "US", us16(uint16(e.Numbers[0])))
		default:
			base = base.with(tag, e.VR, strings.Join(e.Strings, `\`)+" ")
		}
	}
	a, _ := newArchive(t)
	cases := []struct {
		name      string
		bot       []uint32
		fragments [][]byte
		status    int
	}{
		{"offset table", bot, frags, http.StatusOK},
		{"no offset table", nil, frags, http.StatusOK},
		{"one fragment per frame", nil, frames, http.StatusOK},
		{"unusable", nil, append([][]byte{{0, 1}}, frags...), http.StatusNotImplemented},
	}
	for i, tc := range cases {
		g := base
		g.sop = "1.2.826.0.1.3680043.10.2.3." + strconv.Itoa(i+1)
		g.bot, g.fragments = tc.bot, tc.fragments
		if _, err := a.Put(context.Background(), bytes.NewReader(g.bytes(t)), store.PutRequest{}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	url := serve(t, a, Config{Logger: testLogger()})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := url + "/dicomweb/studies/" + base.study + "/series/" + base.series + "/instances/1.2.826.0.1.3680043.10.2.3." + strconv.Itoa(i+1)
			r := get(t, http.MethodGet, u+"/frames/"+frameList(8), map[string]string{"Accept": acceptOHIF})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status != http.StatusOK {
				if !strings.Contains(string(r.body), "frame") {
					t.Errorf("message does not say why: %s", r.body)
				}
				return
			}
			_, parts := frameParts(t, r)
			for k, p := range parts {
				if !bytes.Equal(p.body, frames[k]) {
					t.Errorf("frame %d differs", k+1)
				}
			}
			// The whole pixel data as bulk data is the same frames.
			r = get(t, http.MethodGet, u+"/bulkdata/7FE00010", map[string]string{"Accept": acceptOHIF})
			if _, bparts := frameParts(t, r); len(bparts) != 8 || !bytes.Equal(bparts[7].body, frames[7]) {
				t.Errorf("bulk data: %d parts", len(bparts))
			}
		})
	}
}
