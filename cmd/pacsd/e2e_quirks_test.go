package main

// Vendor quirks over DIMSE: objects as odd devices write them, sent to the real binary by
// DCMTK's dcmsend (which parses and re-encodes them) and by `pacsd send` (which sends the
// file's data set bytes untouched). Accepted ones succeed, refused ones get 0xCxxx, and the
// server goes on serving.

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"pacsd/dicom"
)

// qw writes elements byte for byte (no padding, no order checks): the quirks are the point.
type qw struct {
	bytes.Buffer
	explicit bool
}

func (w *qw) hdr(t dicom.Tag, vr string, n uint32) {
	binary.Write(w, binary.LittleEndian, t.Group())
	binary.Write(w, binary.LittleEndian, t.Element())
	switch {
	case !w.explicit || t.Group() == 0xFFFE:
		binary.Write(w, binary.LittleEndian, n)
	case strings.Contains(" OB OW SQ UN UT ", " "+vr+" "):
		w.WriteString(vr + "\x00\x00")
		binary.Write(w, binary.LittleEndian, n)
	default:
		w.WriteString(vr)
		binary.Write(w, binary.LittleEndian, uint16(n))
	}
}

func (w *qw) el(t dicom.Tag, vr string, v []byte) *qw {
	w.hdr(t, vr, uint32(len(v)))
	w.Write(v)
	return w
}

// s writes a text value padded to even length (NUL for UI, space otherwise).
func (w *qw) s(t dicom.Tag, vr, v string) *qw {
	if len(v)%2 == 1 {
		if vr == "UI" {
			v += "\x00"
		} else {
			v += " "
		}
	}
	return w.el(t, vr, []byte(v))
}

func (w *qw) us(t dicom.Tag, v uint16) *qw {
	return w.el(t, "US", binary.LittleEndian.AppendUint16(nil, v))
}

// quirkFile is one object: its data set is written by body between the identifying
// elements, so each case only says what is odd about it.
type quirkFile struct {
	name   string
	ts     string
	accept bool
	// dcmsend: DCMTK must be able to read the file to send it; objects it refuses to load
	// locally (truncated ones) are sent by `pacsd send` only.
	dcmsend bool
	id      string // each object is alone in its study: qzRoot.id, series .1, instance .1.1
	build   func(w *qw, u uids)
	mutate  func([]byte) []byte
}

const (
	qzClass = "1.2.840.10008.5.1.4.1.1.7"
	qzRoot  = "1.2.826.0.1.3680043.10.99"
)

type uids struct{ study, series, sop string }

func (q quirkFile) uids() uids {
	study := qzRoot + "." + q.id
	return uids{study, study + ".1", study + ".1.1"}
}

// head writes the group 0008 elements every object starts with; the case may add more
// of group 0008 or 0009, then calls tail.
func head(w *qw, charset string, u uids) {
	if charset != "" {
		w.s(dicom.TagSpecificCharacterSet, "CS", charset)
	}
	w.s(dicom.TagSOPClassUID, "UI", qzClass)
	w.s(dicom.TagSOPInstanceUID, "UI", u.sop)
	w.s(dicom.TagModality, "CS", "OT")
}

// tail writes the patient and study/series elements; skip leaves out one tag.
func tail(w *qw, u uids, name []byte, skip dicom.Tag) {
	w.el(dicom.TagPatientName, "PN", name)
	w.s(dicom.TagPatientID, "LO", "QZ1")
	if skip != dicom.TagStudyInstanceUID {
		w.s(dicom.TagStudyInstanceUID, "UI", u.study)
	}
	w.s(dicom.TagSeriesInstanceUID, "UI", u.series)
}

// ident is head and tail for objects whose quirk is elsewhere.
func ident(w *qw, charset string, u uids, name []byte, skip dicom.Tag) {
	head(w, charset, u)
	tail(w, u, name, skip)
}

// pixelModule writes the Image Pixel module of 8-bit monochrome frames.
func pixelModule(w *qw, frames string, rows, cols uint16) {
	w.us(dicom.TagSamplesPerPixel, 1)
	w.s(dicom.TagPhotometricInterpretation, "CS", "MONOCHROME2")
	if frames != "" {
		w.s(dicom.TagNumberOfFrames, "IS", frames)
	}
	w.us(dicom.TagRows, rows)
	w.us(dicom.TagColumns, cols)
	w.us(dicom.TagBitsAllocated, 8)
	w.us(dicom.TagBitsStored, 8)
	w.us(0x00280102, 7)
	w.us(dicom.TagPixelRepresentation, 0)
}

func writeQuirk(t *testing.T, dir string, q quirkFile) string {
	t.Helper()
	syntax, _ := dicom.LookupTransferSyntax(q.ts)
	var out bytes.Buffer
	if _, err := dicom.WriteFileMeta(&out, dicom.FileMeta{SOPClassUID: qzClass, SOPInstanceUID: q.uids().sop, TransferSyntaxUID: q.ts}); err != nil {
		t.Fatal(err)
	}
	w := &qw{explicit: syntax.ExplicitVR}
	q.build(w, q.uids())
	if syntax.Deflated {
		zw, _ := flate.NewWriter(&out, flate.BestSpeed) // PS3.5 A.5: raw deflate
		zw.Write(w.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		out.Write(w.Bytes())
	}
	b := out.Bytes()
	if q.mutate != nil {
		b = q.mutate(b)
	}
	p := filepath.Join(dir, q.name+".dcm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func quirkFiles(t *testing.T) []quirkFile {
	gb, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte("张伟"))
	if err != nil {
		t.Fatal(err)
	}
	explicit, implicit := dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian
	return []quirkFile{
		{
			name: "implicit_private_sequence", ts: implicit, accept: true, dcmsend: true, id: "1",
			build: func(w *qw, u uids) {
				w.el(0x00080000, "UL", binary.LittleEndian.AppendUint32(nil, 1234)) // a wrong group length
				head(w, "ISO_IR 192", u)
				w.el(dicom.TagStudyDescription, "", []byte("Chest")) // odd length, unpadded
				w.s(0x00090010, "LO", "ACME 1.1")
				w.hdr(0x00091010, "", 0xFFFFFFFF) // private sequence, undefined length
				w.hdr(dicom.TagItem, "", 0xFFFFFFFF)
				w.el(0x00091001, "", []byte("NESTED"))
				w.hdr(dicom.TagItemDelimitationItem, "", 0)
				w.hdr(dicom.TagSequenceDelimitationItem, "", 0)
				tail(w, u, []byte("Quirk^Implicit"), 0)
			},
		},
		{
			name: "odd_pixels_trailing_padding", ts: explicit, accept: true, dcmsend: true, id: "2",
			build: func(w *qw, u uids) {
				ident(w, "ISO_IR 192", u, []byte("Quirk^Padding"), 0)
				pixelModule(w, "", 3, 3)
				w.el(dicom.TagPixelData, "OB", bytes.Repeat([]byte{9}, 9))
				w.el(0xFFFCFFFC, "OB", make([]byte, 128))
			},
		},
		{
			name: "encapsulated_offset_table", ts: dicom.JPEGBaseline8Bit, accept: true, dcmsend: true, id: "3",
			build: func(w *qw, u uids) {
				ident(w, "ISO_IR 192", u, []byte("Quirk^Fragments"), 0)
				pixelModule(w, "2", 8, 8)
				frag := func(n int) []byte { return append(append([]byte{0xFF, 0xD8}, make([]byte, n)...), 0xFF, 0xD9) }
				w.hdr(dicom.TagPixelData, "OB", 0xFFFFFFFF)
				w.el(dicom.TagItem, "", binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0), 2*8+16+12))
				for _, n := range []int{12, 8, 20} { // frame 1: two fragments; frame 2: one
					w.el(dicom.TagItem, "", frag(n))
				}
				w.hdr(dicom.TagSequenceDelimitationItem, "", 0)
			},
		},
		{
			// dcmsend refuses to load it ("File meta information header missing").
			name: "no_preamble", ts: explicit, accept: true, id: "4",
			build:  func(w *qw, u uids) { ident(w, "ISO_IR 192", u, []byte("Quirk^Preamble"), 0) },
			mutate: func(b []byte) []byte { return b[132:] },
		},
		{
			name: "gb18030_undeclared", ts: explicit, accept: true, dcmsend: true, id: "5",
			build: func(w *qw, u uids) { ident(w, "", u, gb, 0) },
		},
		{
			name: "misspelled_charset", ts: explicit, accept: true, dcmsend: true, id: "6",
			build: func(w *qw, u uids) { ident(w, "ISO-IR 192", u, []byte("张伟"), 0) },
		},
		{
			// The meta (and so the command) names a valid UID; the data set's has letters.
			name: "sop_uid_letters", ts: explicit, dcmsend: true, id: "7",
			build: func(w *qw, u uids) {
				ident(w, "ISO_IR 192", uids{u.study, u.series, u.sop + "a"}, []byte("Quirk^Letters"), 0)
			},
		},
		{
			name: "no_study_uid", ts: explicit, dcmsend: true, id: "8",
			build: func(w *qw, u uids) {
				ident(w, "ISO_IR 192", u, []byte("Quirk^NoStudy"), dicom.TagStudyInstanceUID)
			},
		},
		{
			name: "truncated_pixels", ts: explicit, id: "9",
			build: func(w *qw, u uids) {
				ident(w, "ISO_IR 192", u, []byte("Quirk^Truncated"), 0)
				pixelModule(w, "", 16, 16)
				w.el(dicom.TagPixelData, "OB", bytes.Repeat([]byte{1}, 256))
			},
			mutate: func(b []byte) []byte { return b[:len(b)-100] },
		},
		{
			// The deflate stream ends inside Pixel Data: the header reads fine (so `pacsd
			// send` sends it), the object is not whole.
			name: "deflated_truncated", ts: dicom.DeflatedExplicitVRLittleEndian, id: "11",
			build: func(w *qw, u uids) {
				ident(w, "ISO_IR 192", u, []byte("Quirk^Deflated"), 0)
				pixelModule(w, "", 64, 64)
				px := make([]byte, 64*64)
				x := uint32(88172645)
				for i := range px { // xorshift noise: deflate cannot shrink it
					x ^= x << 13
					x ^= x >> 17
					x ^= x << 5
					px[i] = byte(x)
				}
				w.el(dicom.TagPixelData, "OB", px)
			},
			mutate: func(b []byte) []byte { return b[:len(b)/2] },
		},
		{
			name: "length_past_end", ts: implicit, id: "10",
			build: func(w *qw, u uids) {
				ident(w, "ISO_IR 192", u, []byte("Quirk^PastEnd"), 0)
				pixelModule(w, "", 2, 2)
				w.el(dicom.TagPixelData, "", []byte{1, 2, 3, 4})
				w.hdr(0xFFFCFFFC, "", 1<<16)
				w.Write(make([]byte, 8))
			},
		},
	}
}

// TestQuirksOverDIMSE sends the quirk objects with dcmsend and with `pacsd send`.
func TestQuirksOverDIMSE(t *testing.T) {
	needTool(t, "dcmsend")
	n := startPacsd(t, t.TempDir())
	dir := t.TempDir()
	qs := quirkFiles(t)
	paths := map[string]string{}
	byName := map[string]quirkFile{}
	var forDcmsend []string
	for _, q := range qs {
		p := writeQuirk(t, dir, q)
		paths[q.name], byName[q.name] = p, q
		if q.dcmsend {
			forDcmsend = append(forDcmsend, p)
		}
	}

	// dcmsend: one association for everything it can load. It re-encodes what it reads,
	// which removes some quirks on the way; pacsd must still refuse what is invalid.
	report := filepath.Join(t.TempDir(), "dcmsend-report.txt")
	runTool(t, "dcmsend", append([]string{"-dn", "+crf", report, "-aec", "PACSD", "-aet", "QUIRKS1", "127.0.0.1", n.dicomPort}, forDcmsend...)...)
	rep, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if !q.dcmsend {
			continue
		}
		st, ok := dcmsendStatus(string(rep), paths[q.name])
		switch {
		case !ok:
			t.Errorf("dcmsend %s: not in the report\n%s", q.name, rep)
		case q.accept && st != "0x0000":
			t.Errorf("dcmsend %s: status %s, want success", q.name, st)
		case !q.accept && !strings.HasPrefix(st, "0xC"):
			t.Errorf("dcmsend %s: status %s, want 0xCxxx", q.name, st)
		}
	}

	// pacsd send: the refused objects first, so that the accepted ones travel on an
	// association that has already seen failures. The same calling AE as dcmsend's: what
	// pacsd send re-sends differs in bytes (another syntax), and only the sender that
	// stored an object may replace it.
	slices.SortStableFunc(qs, func(a, b quirkFile) int {
		if a.accept == b.accept {
			return 0
		}
		if !a.accept {
			return -1
		}
		return 1
	})
	var ordered []string
	for _, q := range qs {
		ordered = append(ordered, paths[q.name])
	}
	cmd := exec.Command(pacsdBin, append([]string{"send", "--addr", n.dicomAddr, "--aec", "PACSD", "--aet", "QUIRKS1"}, ordered...)...)
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("pacsd send reported success with refused objects:\n%s", b)
	}
	for _, q := range qs {
		line := regexp.MustCompile(regexp.QuoteMeta(paths[q.name]) + `: (.*)`).FindStringSubmatch(string(b))
		switch {
		case line == nil:
			t.Errorf("pacsd send %s: no result line\n%s", q.name, b)
		case q.accept && line[1] != "status 0x0000":
			t.Errorf("pacsd send %s: %s, want success", q.name, line[1])
		case !q.accept && !strings.HasPrefix(line[1], "FAILED status 0xC"):
			t.Errorf("pacsd send %s: %s, want FAILED status 0xCxxx", q.name, line[1])
		}
	}

	// The server goes on: a new association echoes and stores.
	if out, err := exec.Command(pacsdBin, "echo", "--addr", n.dicomAddr).CombinedOutput(); err != nil {
		t.Fatalf("pacsd echo after the quirks: %v\n%s", err, out)
	}
	good := testdataFiles(t)[0]
	if out, err := exec.Command(pacsdBin, "send", "--addr", n.dicomAddr, good).CombinedOutput(); err != nil {
		t.Fatalf("pacsd send after the quirks: %v\n%s", err, out)
	}
	n.assertSameDataset(t, good)

	// Exactly the accepted objects are indexed, with the bytes `pacsd send` sent.
	indexed := map[string]map[string]any{}
	for _, r := range n.qido(t, "/instances", url.Values{"limit": {"1000"}, "includefield": {"0020000D", "00100010"}}) {
		if strings.HasPrefix(uidOf(r, "0020000D"), qzRoot+".") {
			indexed[uidOf(r, "00080018")] = r
		}
	}
	for _, q := range qs {
		u := q.uids()
		_, ok := indexed[u.sop]
		switch {
		case q.accept && !ok:
			t.Errorf("accepted %s is not indexed", q.name)
		case q.accept:
			n.assertSameDataset(t, paths[q.name])
		case ok:
			t.Errorf("refused %s is indexed", q.name)
		default:
			if _, code := n.wadoInstance(t, u.study, u.series, u.sop); code != http.StatusNotFound {
				t.Errorf("refused %s: WADO-RS %d, want 404", q.name, code)
			}
		}
	}

	// The misspelled character set was understood; the undeclared GB18030 name is read
	// through pacsd's default --fallback-charset GB18030, as the township device meant it.
	for name, want := range map[string]string{"misspelled_charset": "张伟", "gb18030_undeclared": "张伟"} {
		if got := pnAlphabeticOrIdeographic(indexed[byName[name].uids().sop]); got != want {
			t.Errorf("%s: PatientName %q, want %q", name, got, want)
		}
	}
}

// dcmsendStatus reads the DIMSE status of one file from dcmsend's report (+crf): blocks
// of "Key : value" lines, "Filename" first and "DIMSE Status : 0x0000 (Success)" later.
func dcmsendStatus(report, path string) (string, bool) {
	file := ""
	for _, line := range strings.Split(report, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k, v = strings.TrimSpace(k), strings.TrimSpace(v); k {
		case "Filename":
			file = v
		case "DIMSE Status":
			if file == path {
				st, _, _ := strings.Cut(v, " ")
				return "0x" + strings.ToUpper(strings.TrimPrefix(st, "0x")), true
			}
		}
	}
	return "", false
}
