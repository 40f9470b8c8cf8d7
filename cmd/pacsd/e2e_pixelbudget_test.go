package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"pacsd/dicom"
)

// bombSide x bombSide 16-bit pixels is 1 GiB decoded, just under dicom/pixel's hard bound
// per frame, declared by an RLE object of about 16 MB.
const bombSide = 23170

// writeBomb writes a Part-10 DX object whose one RLE Lossless frame declares bombSide x
// bombSide 16-bit zeros (replicate runs, PS3.5 G.3.1), and returns its UIDs.
func writeBomb(t *testing.T, path string, n int) (study, series, sop string) {
	t.Helper()
	study, series, sop = fmt.Sprintf("2.25.716%d", n), fmt.Sprintf("2.25.717%d", n), fmt.Sprintf("2.25.718%d", n)
	const sopClass = "1.2.840.10008.5.1.4.1.1.1.1" // Digital X-Ray Image Storage - For Presentation
	var buf bytes.Buffer
	if _, err := dicom.WriteFileMeta(&buf, dicom.FileMeta{SOPClassUID: sopClass, SOPInstanceUID: sop, TransferSyntaxUID: dicom.RLELossless}); err != nil {
		t.Fatal(err)
	}
	enc, err := dicom.NewEncoder(&buf, dicom.RLELossless)
	if err != nil {
		t.Fatal(err)
	}
	enc.WriteString(dicom.TagSOPClassUID, "UI", sopClass)
	enc.WriteString(dicom.TagSOPInstanceUID, "UI", sop)
	enc.WriteString(dicom.TagModality, "CS", "DX")
	enc.WriteString(dicom.TagPatientName, "PN", "BOMB^PIXEL")
	enc.WriteString(dicom.TagPatientID, "LO", "BOMB"+strconv.Itoa(n))
	enc.WriteString(dicom.TagStudyInstanceUID, "UI", study)
	enc.WriteString(dicom.TagSeriesInstanceUID, "UI", series)
	enc.WriteUint16(0x00280002, "US", 1) // Samples per Pixel
	enc.WriteString(0x00280004, "CS", "MONOCHROME2")
	for _, e := range []struct {
		tag dicom.Tag
		v   uint16
	}{{0x00280010, bombSide}, {0x00280011, bombSide}, {0x00280100, 16}, {0x00280101, 16}, {0x00280102, 15}, {0x00280103, 0}} {
		enc.WriteUint16(e.tag, "US", e.v)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	var seg []byte
	for left := bombSide * bombSide; left > 0; left -= 128 {
		k := min(left, 128)
		seg = append(seg, byte(int8(1-k)), 0)
	}
	frame := make([]byte, 64, 64+2*len(seg))
	binary.LittleEndian.PutUint32(frame, 2)
	binary.LittleEndian.PutUint32(frame[4:], 64)
	binary.LittleEndian.PutUint32(frame[8:], uint32(64+len(seg)))
	frame = append(append(frame, seg...), seg...)
	item := func(tag uint32, n int) {
		var h [8]byte
		binary.LittleEndian.PutUint16(h[0:], uint16(tag>>16))
		binary.LittleEndian.PutUint16(h[2:], uint16(tag))
		binary.LittleEndian.PutUint32(h[4:], uint32(n))
		buf.Write(h[:])
	}
	// PS3.5 A.4: Pixel Data of undefined length, an empty offset table, one fragment.
	buf.Write([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	item(0xFFFEE000, 0)
	item(0xFFFEE000, len(frame))
	buf.Write(frame)
	item(0xFFFEE0DD, 0)
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return study, series, sop
}

// stow sends one Part-10 file by STOW-RS and fails the test unless it is stored.
func (n *node) stow(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	p, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Write(b)
	mw.Close()
	resp, err := http.Post(n.baseURL+"/dicomweb/studies", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("STOW-RS %s: %d %s", filepath.Base(path), resp.StatusCode, msg)
	}
}

// peakRSS is the process's high-water resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestPixelBombRefused: objects declaring a 1 GiB frame in 16 MB are stored and retrieved
// as stored, byte for byte, while rendering them (several at once), their thumbnails and
// transcoding them are refused with a clear error and the server's memory stays small.
func TestPixelBombRefused(t *testing.T) {
	dir := t.TempDir()
	n := startPacsd(t, filepath.Join(dir, "data"))
	const bombs = 3
	type obj struct{ path, study, series, sop string }
	var objs []obj
	for i := range bombs {
		o := obj{path: filepath.Join(dir, fmt.Sprintf("bomb%d.dcm", i))}
		o.study, o.series, o.sop = writeBomb(t, o.path, i)
		n.stow(t, o.path)
		objs = append(objs, o)
	}

	get := func(path, accept string) (int, string) {
		req, _ := http.NewRequest("GET", n.baseURL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256)) // an error message, or the start of an image
		return resp.StatusCode, string(b)
	}
	// All at once: every bomb rendered twice, its thumbnail, and transcoded.
	var wg sync.WaitGroup
	for _, o := range objs {
		inst := fmt.Sprintf("/dicomweb/studies/%s/series/%s/instances/%s", o.study, o.series, o.sop)
		for _, req := range []struct{ path, accept string }{
			{inst + "/rendered", "image/jpeg"},
			{inst + "/frames/1/rendered", "image/png"},
			{inst + "/thumbnail", "image/jpeg"},
			{inst + "/frames/1", `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1`},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body := get(req.path, req.accept)
				if code != http.StatusUnprocessableEntity || !strings.Contains(body, "too large") {
					t.Errorf("GET %s: %d %q, want 422 saying the image is too large", req.path, code, body)
				}
			}()
		}
	}
	wg.Wait()
	for _, o := range objs {
		n.assertSameDataset(t, o.path)
	}
	if peak := peakRSS(t, n.cmd.Process.Pid); peak > 400<<20 {
		t.Errorf("pacsd's peak RSS was %d MB, want under 400 MB", peak>>20)
	} else {
		t.Logf("pacsd's peak RSS: %d MB", peak>>20)
	}
	if err := n.stop(); err != nil {
		t.Fatalf("pacsd did not stop cleanly: %v", err)
	}
}
