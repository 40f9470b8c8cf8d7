package dicom

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"pacsd/internal/peertest"
)

// ---- DCMTK-made files ----

// rdTool returns the path of a DCMTK tool, or skips the test (fails it under CI).
func rdTool(t testing.TB, name string) string {
	t.Helper()
	return peertest.Tool(t, name)
}

func rdRun(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(rdTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// rdDump is the data set every DCMTK variant is made from: GB18030 text (with a GBK trail
// byte 05/12 in a multi-valued LO), nested sequences, an item with its own character set,
// a private block, numbers of every kind, a "US or SS" value with signed pixels, an overlay
// in a repeating group, and pixel data.
const rdDump = "(0008,0005) CS [GB18030]\n" +
	"(0008,0008) CS [ORIGINAL\\PRIMARY\\AXIAL]\n" +
	"(0008,0016) UI =SecondaryCaptureImageStorage\n" +
	"(0008,0018) UI [1.2.826.0.1.3680043.2.1125.1]\n" +
	"(0008,0020) DA [20240102]\n" +
	"(0008,0060) CS [OT]\n" +
	"(0008,1030) LO [\x81\x5c\\B]\n" +
	"(0008,1115) SQ (Sequence with undefined length #=2)\n" +
	"  (fffe,e000) na (Item with undefined length #=2)\n" +
	"    (0008,1150) UI [1.2.840.10008.5.1.4.1.1.7]\n" +
	"    (0008,1155) UI [1.2.3.9.1]\n" +
	"  (fffe,e00d) na (ItemDelimitationItem)\n" +
	"  (fffe,e000) na (Item with undefined length #=3)\n" +
	"    (0008,0005) CS [ISO_IR 100]\n" +
	"    (0008,1155) UI [1.2.3.9.2]\n" +
	"    (0040,a730) SQ (Sequence with undefined length #=1)\n" +
	"      (fffe,e000) na (Item with undefined length #=1)\n" +
	"        (0040,a160) UT [J\xe9r\xf4me]\n" +
	"      (fffe,e00d) na (ItemDelimitationItem)\n" +
	"    (fffe,e0dd) na (SequenceDelimitationItem)\n" +
	"  (fffe,e00d) na (ItemDelimitationItem)\n" +
	"(fffe,e0dd) na (SequenceDelimitationItem)\n" +
	"(0009,0010) LO [ACME]\n" +
	"(0009,1001) UN 01\\02\n" +
	"(0010,0010) PN [\xd5\xc5^\xce\xb0=Zhang^Wei]\n" +
	"(0010,0020) LO [  PID-0001 ]\n" +
	"(0010,1030) DS [ 70.5 ]\n" +
	"(0018,0050) DS [2.5]\n" +
	"(0018,1310) US 1\\2\\3\\4\n" +
	"(0018,9087) FD 1.5\n" +
	"(0020,000d) UI [1.2.3]\n" +
	"(0020,000e) UI [1.2.3.1]\n" +
	"(0020,0013) IS [ 7 ]\n" +
	"(0020,9165) AT (0010,0010)\\(0028,0010)\n" +
	"(0028,0002) US 1\n" +
	"(0028,0004) CS [MONOCHROME2]\n" +
	"(0028,0010) US 4\n" +
	"(0028,0011) US 4\n" +
	"(0028,0100) US 8\n" +
	"(0028,0101) US 8\n" +
	"(0028,0102) US 7\n" +
	"(0028,0103) US 1\n" +
	"(0028,0106) SS -5\n" +
	"(6002,3000) OW 0001\\0002\n" +
	"(7fe0,0010) OB 00\\01\\02\\03\\04\\05\\06\\07\\08\\09\\0a\\0b\\0c\\0d\\0e\\0f\n"

type rdVariant struct {
	name string
	file string
	ts   string
	meta bool // Part-10 with meta; false: bare data set
}

// rdFixtures writes rdDump with dump2dcm and derives every transfer syntax from it.
func rdFixtures(t testing.TB) (dir string, variants []rdVariant) {
	t.Helper()
	dir = t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := os.WriteFile(p("base.dump"), []byte(rdDump), 0o644); err != nil {
		t.Fatal(err)
	}
	rdRun(t, "dump2dcm", "-q", "+te", p("base.dump"), p("explicit.dcm"))
	rdRun(t, "dcmconv", "-q", "+te", "-e", p("explicit.dcm"), p("undefined.dcm"))
	rdRun(t, "dcmconv", "-q", "+ti", p("explicit.dcm"), p("implicit.dcm"))
	rdRun(t, "dcmconv", "-q", "+ti", "-e", p("explicit.dcm"), p("implicit_undefined.dcm"))
	rdRun(t, "dcmconv", "-q", "+tb", p("explicit.dcm"), p("big.dcm"))
	rdRun(t, "dcmconv", "-q", "+tb", "-e", p("explicit.dcm"), p("big_undefined.dcm"))
	rdRun(t, "dcmconv", "-q", "+td", p("explicit.dcm"), p("deflated.dcm"))
	rdRun(t, "dcmcrle", "-q", p("explicit.dcm"), p("rle.dcm"))
	rdRun(t, "dcmconv", "-q", "-F", "+ti", p("explicit.dcm"), p("raw_implicit.dcm"))
	rdRun(t, "dcmconv", "-q", "-F", "+te", p("explicit.dcm"), p("raw_explicit.dcm"))
	return dir, []rdVariant{
		{"explicit LE", p("explicit.dcm"), ExplicitVRLittleEndian, true},
		{"explicit LE undefined lengths", p("undefined.dcm"), ExplicitVRLittleEndian, true},
		{"implicit LE", p("implicit.dcm"), ImplicitVRLittleEndian, true},
		{"implicit LE undefined lengths", p("implicit_undefined.dcm"), ImplicitVRLittleEndian, true},
		{"explicit BE", p("big.dcm"), ExplicitVRBigEndian, true},
		{"explicit BE undefined lengths", p("big_undefined.dcm"), ExplicitVRBigEndian, true},
		{"deflated", p("deflated.dcm"), DeflatedExplicitVRLittleEndian, true},
		{"RLE (encapsulated)", p("rle.dcm"), RLELossless, true},
		{"no meta, implicit", p("raw_implicit.dcm"), ImplicitVRLittleEndian, false},
		{"no meta, explicit", p("raw_explicit.dcm"), ExplicitVRLittleEndian, false},
	}
}

// rdDatasetStream returns the data set bytes of a Part-10 object (inflated if deflated).
func rdDatasetStream(t testing.TB, data []byte, h *Header) []byte {
	t.Helper()
	ds := data[h.DatasetOffset:]
	if h.TransferSyntax == DeflatedExplicitVRLittleEndian {
		b, err := io.ReadAll(flate.NewReader(bytes.NewReader(ds)))
		if err != nil {
			t.Fatalf("inflate: %v", err)
		}
		return b
	}
	return ds
}

// rdCheckFixture asserts what every variant of rdDump must read as.
func rdCheckFixture(t *testing.T, ds *Dataset, ts string) {
	t.Helper()
	bo := binary.ByteOrder(binary.LittleEndian)
	if ts == ExplicitVRBigEndian {
		bo = binary.BigEndian
	}
	strs := []struct {
		tag  Tag
		want []string
	}{
		{TagSpecificCharacterSet, []string{"GB18030"}},
		{TagImageType, []string{"ORIGINAL", "PRIMARY", "AXIAL"}},
		{TagSOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.7"}},
		{TagSOPInstanceUID, []string{"1.2.826.0.1.3680043.2.1125.1"}},
		{TagStudyDescription, []string{"乗", "B"}}, // 81 5C is one GBK character, then '\'
		{NewTag(0x0009, 0x0010), []string{"ACME"}},
		{TagPatientName, []string{"张^伟=Zhang^Wei"}},
		{TagPatientID, []string{"PID-0001"}},
		{TagPatientWeight, []string{"70.5"}},
		{TagInstanceNumber, []string{"7"}},
		{TagPhotometricInterpretation, []string{"MONOCHROME2"}},
	}
	for _, s := range strs {
		if got := ds.Strings(s.tag); !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s = %q, want %q", s.tag, got, s.want)
		}
	}
	nums := []struct {
		tag  Tag
		vr   string
		want []float64
	}{
		{NewTag(0x0018, 0x1310), "US", []float64{1, 2, 3, 4}},
		{NewTag(0x0018, 0x9087), "FD", []float64{1.5}},
		{NewTag(0x0020, 0x9165), "AT", []float64{0x00100010, 0x00280010}},
		{TagRows, "US", []float64{4}},
		// "US or SS": SS because Pixel Representation is 1, also when the VR comes from
		// the dictionary (implicit VR).
		{NewTag(0x0028, 0x0106), "SS", []float64{-5}},
	}
	for _, n := range nums {
		e := ds.Get(n.tag)
		if e == nil {
			t.Errorf("%s missing", n.tag)
			continue
		}
		if e.VR != n.vr || !reflect.DeepEqual(e.Numbers, n.want) {
			t.Errorf("%s = %s %v, want %s %v", n.tag, e.VR, e.Numbers, n.vr, n.want)
		}
	}
	if v, ok := ds.Int(TagInstanceNumber); !ok || v != 7 {
		t.Errorf("Int(InstanceNumber) = %d, %v", v, ok)
	}
	if v, ok := ds.Float(TagPatientWeight); !ok || v != 70.5 {
		t.Errorf("Float(PatientWeight) = %v, %v", v, ok)
	}
	// Overlay data in repeating group 6002: OW, bytes in the syntax's byte order.
	ov := ds.Get(NewTag(0x6002, 0x3000))
	wantOv := make([]byte, 4)
	bo.PutUint16(wantOv, 1)
	bo.PutUint16(wantOv[2:], 2)
	if ov == nil || ov.VR != "OW" || !bytes.Equal(ov.Bytes, wantOv) {
		t.Errorf("overlay data = %+v, want OW % X", ov, wantOv)
	}
	if un := ds.Get(NewTag(0x0009, 0x1001)); un == nil || un.VR != "UN" || !bytes.Equal(un.Bytes, []byte{1, 2}) {
		t.Errorf("private UN = %+v", un)
	}
	// Sequences.
	sq := ds.Get(NewTag(0x0008, 0x1115))
	if sq == nil || sq.VR != "SQ" || len(sq.Items) != 2 {
		t.Fatalf("ReferencedSeriesSequence = %+v", sq)
	}
	if got := sq.Items[0].String(NewTag(0x0008, 0x1155)); got != "1.2.3.9.1" {
		t.Errorf("item 1 UID = %q", got)
	}
	nested := sq.Items[1].Get(NewTag(0x0040, 0xa730))
	if nested == nil || len(nested.Items) != 1 {
		t.Fatalf("nested sequence = %+v", nested)
	}
	// The item's own ISO_IR 100 applies inside it ...
	if got := nested.Items[0].String(NewTag(0x0040, 0xa160)); got != "Jérôme" {
		t.Errorf("nested UT = %q, want Jérôme", got)
	}
	// ... and the last element read is the one just before Pixel Data.
	if last := ds.Elements[len(ds.Elements)-1]; last.Tag != NewTag(0x6002, 0x3000) {
		t.Errorf("last element %s, want (6002,3000)", last.Tag)
	}
}

// TestReadDCMTK reads files DCMTK wrote in every transfer syntax; the fixtures are made
// once and shared by the subtests.
func TestReadDCMTK(t *testing.T) {
	dir, variants := rdFixtures(t)
	t.Run("syntaxes", func(t *testing.T) { rdTestSyntaxes(t, dir, variants) })
	t.Run("bufio", func(t *testing.T) { rdTestBufio(t, dir, variants) })
	t.Run("keep pixel data", func(t *testing.T) { rdTestKeepPixelData(t, dir, variants) })
	t.Run("start variants", func(t *testing.T) { rdTestStartVariants(t, dir, variants) })
	t.Run("deflated zlib", func(t *testing.T) { rdTestDeflatedZlib(t, dir, variants) })
	t.Run("truncated", func(t *testing.T) { rdTestTruncated(t, dir, variants) })
}

func rdTestSyntaxes(t *testing.T, dir string, variants []rdVariant) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			data, err := os.ReadFile(v.file)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ReadPart10(bytes.NewReader(data), ReadOptions{})
			if err != nil {
				t.Fatalf("ReadPart10: %v", err)
			}
			if h.TransferSyntax != v.ts {
				t.Errorf("TransferSyntax = %q, want %q", h.TransferSyntax, v.ts)
			}
			if !reflect.DeepEqual(h.Charsets, []string{"GB18030"}) {
				t.Errorf("Charsets = %q", h.Charsets)
			}
			if v.meta {
				if got := h.Meta.String(TagMediaStorageSOPInstanceUID); got != "1.2.826.0.1.3680043.2.1125.1" {
					t.Errorf("meta SOP Instance UID = %q", got)
				}
				if h.DatasetOffset <= 132 {
					t.Errorf("DatasetOffset = %d", h.DatasetOffset)
				}
			} else if h.DatasetOffset != 0 || len(h.Meta.Elements) != 0 {
				t.Errorf("bare data set: DatasetOffset %d, meta %v", h.DatasetOffset, h.Meta.Elements)
			}
			rdCheckFixture(t, h.Dataset, v.ts)

			// Offsets are exact: the Pixel Data tag and a value sit where they are said to.
			stream := rdDatasetStream(t, data, h)
			pixTag := []byte{0xe0, 0x7f, 0x10, 0x00}
			if v.ts == ExplicitVRBigEndian {
				pixTag = []byte{0x7f, 0xe0, 0x00, 0x10}
			}
			if h.PixelDataOffset < 0 || !bytes.HasPrefix(stream[h.PixelDataOffset:], pixTag) {
				t.Errorf("PixelDataOffset %d does not point at the Pixel Data tag", h.PixelDataOffset)
			}
			if v.ts != DeflatedExplicitVRLittleEndian {
				if off := h.Part10PixelDataOffset(); off != h.DatasetOffset+h.PixelDataOffset || !bytes.HasPrefix(data[off:], pixTag) {
					t.Errorf("Part10PixelDataOffset = %d", off)
				}
			} else if h.Part10PixelDataOffset() != -1 {
				t.Errorf("Part10PixelDataOffset for deflated = %d, want -1", h.Part10PixelDataOffset())
			}
			uid := h.Dataset.Get(TagSOPInstanceUID)
			if got := string(stream[uid.Offset : uid.Offset+int64(uid.Length)]); strings.TrimRight(got, "\x00") != "1.2.826.0.1.3680043.2.1125.1" {
				t.Errorf("bytes at SOP Instance UID offset: %q", got)
			}
			nested := h.Dataset.Get(NewTag(0x0008, 0x1115)).Items[1].Get(NewTag(0x0040, 0xa730)).Items[0].Get(NewTag(0x0040, 0xa160))
			if got := string(stream[nested.Offset : nested.Offset+int64(nested.Length)]); got != "J\xe9r\xf4me" {
				t.Errorf("bytes at nested UT offset: %q", got)
			}

			// ReadDataset on the data set alone agrees.
			dsOnly, err := ReadDataset(bytes.NewReader(data[h.DatasetOffset:]), h.TransferSyntax, ReadOptions{})
			if err != nil {
				t.Fatalf("ReadDataset: %v", err)
			}
			rdCheckFixture(t, dsOnly, v.ts)
		})
	}
}

// rdTestBufio: a *bufio.Reader is left on the Pixel Data tag, so the caller
// can go on reading the pixel data from it.
func rdTestBufio(t *testing.T, dir string, variants []rdVariant) {
	for _, v := range variants {
		if v.ts == DeflatedExplicitVRLittleEndian {
			continue
		}
		data, err := os.ReadFile(v.file)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(bytes.NewReader(data))
		h, err := ReadPart10(br, ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		rest, _ := io.ReadAll(br)
		if !bytes.Equal(rest, data[h.Part10PixelDataOffset():]) {
			t.Errorf("%s: reader left at %d bytes from the end, want %d", v.name, len(rest), len(data)-int(h.Part10PixelDataOffset()))
		}
	}
}

func rdTestKeepPixelData(t *testing.T, dir string, variants []rdVariant) {
	for _, v := range variants {
		data, err := os.ReadFile(v.file)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ReadPart10(bytes.NewReader(data), ReadOptions{KeepPixelData: true})
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		px := h.Dataset.Get(TagPixelData)
		if px == nil {
			t.Fatalf("%s: no Pixel Data", v.name)
		}
		if v.ts == RLELossless {
			if px.Length != undefinedLength || px.Bytes != nil || px.Loaded() {
				t.Errorf("%s: encapsulated pixel data %+v", v.name, px)
			}
		} else if len(px.Bytes) != 16 || px.Bytes[15] != 0x0f {
			t.Errorf("%s: pixel data % X", v.name, px.Bytes)
		}
		if h.PixelDataOffset < 0 {
			t.Errorf("%s: PixelDataOffset not set", v.name)
		}
	}
}

func rdTestStartVariants(t *testing.T, dir string, variants []rdVariant) {
	data, err := os.ReadFile(filepath.Join(dir, "explicit.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	h0, err := ReadPart10(bytes.NewReader(data), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// (0002,0000) UL: tag 4 + VR 2 + length 2, then the value.
	const glValue = 132 + 8
	withGroupLength := func(n uint32) []byte {
		b := bytes.Clone(data)
		binary.LittleEndian.PutUint32(b[glValue:], n)
		return b
	}
	tests := []struct {
		name string
		data []byte
		off  int64 // expected DatasetOffset
	}{
		{"as written", data, h0.DatasetOffset},
		{"no preamble", data[132:], h0.DatasetOffset - 132},
		{"group length too small", withGroupLength(10), h0.DatasetOffset},
		{"group length too large", withGroupLength(100000), h0.DatasetOffset},
		{"group length zero", withGroupLength(0), h0.DatasetOffset},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ReadPart10(bytes.NewReader(tc.data), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if h.DatasetOffset != tc.off || h.TransferSyntax != ExplicitVRLittleEndian {
				t.Errorf("DatasetOffset %d, TS %s; want %d", h.DatasetOffset, h.TransferSyntax, tc.off)
			}
			rdCheckFixture(t, h.Dataset, ExplicitVRLittleEndian)
		})
	}
}

// rdTestDeflatedZlib: a deflated data set wrapped in a zlib header (a common writer bug)
// still reads.
func rdTestDeflatedZlib(t *testing.T, dir string, variants []rdVariant) {
	data, err := os.ReadFile(filepath.Join(dir, "deflated.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadPart10(bytes.NewReader(data), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inflated := rdDatasetStream(t, data, h)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(inflated)
	zw.Close()
	wrapped := append(bytes.Clone(data[:h.DatasetOffset]), z.Bytes()...)
	h2, err := ReadPart10(bytes.NewReader(wrapped), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rdCheckFixture(t, h2.Dataset, DeflatedExplicitVRLittleEndian)
	if h2.PixelDataOffset != h.PixelDataOffset {
		t.Errorf("PixelDataOffset %d, want %d", h2.PixelDataOffset, h.PixelDataOffset)
	}
	// Corrupt deflate data is malformed, not an I/O error.
	bad := bytes.Clone(data)
	for i := h.DatasetOffset + 2; i < int64(len(bad)); i++ {
		bad[i] ^= 0xa5
	}
	if _, err := ReadPart10(bytes.NewReader(bad), ReadOptions{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("corrupt deflate: err = %v, want ErrMalformed", err)
	}
}

// rdTestTruncated cuts valid files at every length: the reader returns an
// error wrapping ErrMalformed or a result, and never panics. bytes.Reader never fails
// otherwise, so any error must be ErrMalformed.
func rdTestTruncated(t *testing.T, dir string, variants []rdVariant) {
	for _, v := range variants {
		data, err := os.ReadFile(v.file)
		if err != nil {
			t.Fatal(err)
		}
		var ok int
		for n := 0; n < len(data); n++ {
			h, err := ReadPart10(bytes.NewReader(data[:n]), ReadOptions{})
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s cut at %d: %v does not wrap ErrMalformed", v.name, n, err)
				}
				continue
			}
			if h == nil || h.Dataset == nil || h.Meta == nil {
				t.Fatalf("%s cut at %d: nil header parts without an error", v.name, n)
			}
			ok++
		}
		if ok == 0 {
			t.Errorf("%s: no cut gave a partial result; the loop tested nothing", v.name)
		}
	}
}

// TestReadTestdata reads the shared files under testdata/ and compares them with
// testdata/expected.json (written by tools/gentestdata, independently of this package).
func TestReadTestdata(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "expected.json"))
	if err != nil {
		t.Skipf("no testdata/expected.json: %v", err)
	}
	var expected map[string]map[string]string
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	fields := map[string]Tag{
		"SOPClassUID": TagSOPClassUID, "SOPInstanceUID": TagSOPInstanceUID,
		"StudyInstanceUID": TagStudyInstanceUID, "SeriesInstanceUID": TagSeriesInstanceUID,
		"PatientName": TagPatientName, "PatientID": TagPatientID, "Modality": TagModality,
		"StudyDescription": TagStudyDescription, "InstitutionName": TagInstitutionName,
		"Rows": TagRows, "Columns": TagColumns, "NumberOfFrames": TagNumberOfFrames,
		"SamplesPerPixel": TagSamplesPerPixel, "BitsAllocated": TagBitsAllocated,
		"BitsStored": TagBitsStored, "PhotometricInterpretation": TagPhotometricInterpretation,
	}
	for name, want := range expected {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "testdata", filepath.FromSlash(name)))
			if err != nil {
				t.Skipf("listed but missing: %v", err)
			}
			h, err := ReadPart10(bytes.NewReader(data), ReadOptions{})
			if why, bad := want["Malformed"]; bad {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("%s: err = %v, want ErrMalformed", why, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadPart10: %v", err)
			}
			if got := strings.Join(h.Charsets, `\`); got != want["SpecificCharacterSet"] {
				t.Errorf("SpecificCharacterSet = %q, want %q", got, want["SpecificCharacterSet"])
			}
			if h.TransferSyntax != want["TransferSyntaxUID"] {
				t.Errorf("TransferSyntax = %q, want %q", h.TransferSyntax, want["TransferSyntaxUID"])
			}
			for key, w := range want {
				tag, ok := fields[key]
				if !ok {
					continue
				}
				got := h.Dataset.String(tag)
				if e := h.Dataset.Get(tag); e != nil && len(e.Numbers) > 0 {
					n, _ := h.Dataset.Int(tag)
					got = strconv.FormatInt(n, 10)
				}
				if got != w {
					t.Errorf("%s = %q, want %q", key, got, w)
				}
			}
			if h.PixelDataOffset >= 0 {
				stream := rdDatasetStream(t, data, h)
				if !bytes.HasPrefix(stream[h.PixelDataOffset:], []byte{0xe0, 0x7f, 0x10, 0x00}) &&
					!bytes.HasPrefix(stream[h.PixelDataOffset:], []byte{0x7f, 0xe0, 0x00, 0x10}) {
					t.Errorf("PixelDataOffset %d is not on the Pixel Data tag", h.PixelDataOffset)
				}
			}
		})
	}
}

// ---- hand-built bytes ----

// rdEnc builds data elements byte by byte, for inputs DCMTK will not write.
type rdEnc struct {
	bo interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
	explicit bool
	b        []byte
}

func rdNewEnc(explicit, big bool) *rdEnc {
	e := &rdEnc{explicit: explicit}
	e.bo = binary.LittleEndian
	if big {
		e.bo = binary.BigEndian
	}
	return e
}

func (e *rdEnc) u16(v uint16) { e.b = e.bo.AppendUint16(e.b, v) }
func (e *rdEnc) u32(v uint32) { e.b = e.bo.AppendUint32(e.b, v) }

// hdr writes a tag, VR (explicit syntaxes) and length.
func (e *rdEnc) hdr(t Tag, vr string, n uint32) *rdEnc {
	e.u16(t.Group())
	e.u16(t.Element())
	switch {
	case t.Group() == 0xfffe || !e.explicit:
		e.u32(n)
	case shortVRs[vr]:
		e.b = append(e.b, vr...)
		e.u16(uint16(n))
	default:
		e.b = append(e.b, vr...)
		e.u16(0)
		e.u32(n)
	}
	return e
}

func (e *rdEnc) el(t Tag, vr string, v []byte) *rdEnc {
	e.hdr(t, vr, uint32(len(v)))
	e.b = append(e.b, v...)
	return e
}

func (e *rdEnc) str(t Tag, vr, s string) *rdEnc {
	if len(s)%2 == 1 {
		if vr == "UI" {
			s += "\x00"
		} else {
			s += " "
		}
	}
	return e.el(t, vr, []byte(s))
}

func (e *rdEnc) us(t Tag, vals ...uint16) *rdEnc {
	var b []byte
	for _, v := range vals {
		b = e.bo.AppendUint16(b, v)
	}
	return e.el(t, "US", b)
}

func (e *rdEnc) item(n uint32) *rdEnc { return e.hdr(TagItem, "", n) }
func (e *rdEnc) itemEnd() *rdEnc      { return e.hdr(TagItemDelimitationItem, "", 0) }
func (e *rdEnc) seqEnd() *rdEnc       { return e.hdr(TagSequenceDelimitationItem, "", 0) }
func (e *rdEnc) raw(b ...byte) *rdEnc { e.b = append(e.b, b...); return e }

// rdPart10 wraps a data set in a preamble and an Explicit VR LE meta with a correct
// group length.
func rdPart10(ts string, ds []byte) []byte {
	m := rdNewEnc(true, false)
	m.el(TagFileMetaInformationVersion, "OB", []byte{0, 1})
	m.str(TagMediaStorageSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7")
	m.str(TagMediaStorageSOPInstanceUID, "UI", "1.2.3.4")
	m.str(TagTransferSyntaxUID, "UI", ts)
	gl := rdNewEnc(true, false).el(TagFileMetaInformationGroupLength, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(m.b))))
	out := append(make([]byte, 128), "DICM"...)
	out = append(out, gl.b...)
	out = append(out, m.b...)
	return append(out, ds...)
}

func TestReadHandBuilt(t *testing.T) {
	deep := func(levels int) []byte {
		e := rdNewEnc(true, false)
		for i := 0; i < levels; i++ {
			e.hdr(NewTag(0x0040, 0xa730), "SQ", undefinedLength).item(undefinedLength)
		}
		e.str(NewTag(0x0040, 0xa160), "UT", "deep")
		for i := 0; i < levels; i++ {
			e.itemEnd().seqEnd()
		}
		return e.b
	}
	many := func(n int) []byte {
		e := rdNewEnc(true, false)
		for i := 0; i < n; i++ {
			e.str(NewTag(0x0011, uint16(0x1000+i)), "LO", "x")
		}
		return e.b
	}
	tests := []struct {
		name  string
		ts    string
		ds    []byte
		opts  ReadOptions
		check func(t *testing.T, ds *Dataset) // nil: expect ErrMalformed
	}{
		{
			name: "value longer than MaxValueLength is skipped",
			ts:   ExplicitVRLittleEndian,
			ds: rdNewEnc(true, false).str(TagSOPInstanceUID, "UI", "1.2.3").
				el(NewTag(0x0009, 0x1002), "OB", make([]byte, 100)).
				str(NewTag(0x0032, 0x4000), "LT", strings.Repeat("long text ", 10)).
				str(TagPatientID, "LO", "after").b,
			opts: ReadOptions{MaxValueLength: 64},
			check: func(t *testing.T, ds *Dataset) {
				ob, lt := ds.Get(NewTag(0x0009, 0x1002)), ds.Get(NewTag(0x0032, 0x4000))
				if ob.Bytes != nil || ob.Length != 100 || ob.Loaded() || lt.Strings != nil || lt.Loaded() {
					t.Errorf("oversized values loaded: %+v %+v", ob, lt)
				}
				if ds.String(TagPatientID) != "after" {
					t.Errorf("element after skipped values: %q", ds.String(TagPatientID))
				}
			},
		},
		{
			name: "huge top-level length",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).hdr(NewTag(0x0009, 0x1002), "OB", 0xFFFFFFF0).raw(1, 2, 3).b,
		},
		{
			name: "huge length, loaded when MaxValueLength allows, still bounded by the stream",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).hdr(NewTag(0x0009, 0x1002), "OB", 0xFFFFFFF0).raw(1, 2, 3).b,
			opts: ReadOptions{MaxValueLength: 0xFFFFFFFE},
		},
		{
			name: "element longer than its item",
			ts:   ExplicitVRLittleEndian,
			ds: rdNewEnc(true, false).hdr(NewTag(0x0008, 0x1115), "SQ", 24).item(16).
				hdr(NewTag(0x0008, 0x1155), "UI", 200).raw(make([]byte, 200)...).b,
		},
		{
			name: "item longer than its sequence",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).hdr(NewTag(0x0008, 0x1115), "SQ", 8).item(100).raw(make([]byte, 100)...).b,
		},
		{
			name: "item outside a sequence",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).item(0).b,
		},
		{
			name: "non-item inside a sequence",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).hdr(NewTag(0x0008, 0x1115), "SQ", undefinedLength).str(TagPatientID, "LO", "x").b,
		},
		{
			name: "invalid VR bytes",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).raw(0x08, 0x00, 0x18, 0x00, 'u', 'i', 2, 0, '1', 0).b,
		},
		{
			name: "undefined length on a VR that cannot have it",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).hdr(NewTag(0x0032, 0x4000), "UT", undefinedLength).b,
		},
		{
			name: "group 0002 after the data set began",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).str(TagPatientID, "LO", "x").str(0x00020010, "UI", ExplicitVRLittleEndian).b,
		},
		{name: "nesting deeper than MaxDepth", ts: ExplicitVRLittleEndian, ds: deep(65)},
		{
			name: "nesting within MaxDepth",
			ts:   ExplicitVRLittleEndian,
			ds:   deep(64), // a deep structured report
			check: func(t *testing.T, ds *Dataset) {
				e := ds.Get(NewTag(0x0040, 0xa730))
				for i := 1; i < 64; i++ {
					e = e.Items[0].Get(NewTag(0x0040, 0xa730))
				}
				if got := e.Items[0].String(NewTag(0x0040, 0xa160)); got != "deep" {
					t.Errorf("innermost value %q", got)
				}
			},
		},
		{name: "more than MaxElements", ts: ExplicitVRLittleEndian, ds: many(101), opts: ReadOptions{MaxElements: 100}},
		{
			name: "MaxElements counts items",
			ts:   ExplicitVRLittleEndian,
			ds: func() []byte {
				e := rdNewEnc(true, false).hdr(NewTag(0x0008, 0x1115), "SQ", undefinedLength)
				for i := 0; i < 200; i++ {
					e.item(0)
				}
				return e.seqEnd().b
			}(),
			opts: ReadOptions{MaxElements: 100},
		},
		{
			name: "UN of undefined length is an implicit VR sequence (PS3.5 6.2.2)",
			ts:   ExplicitVRLittleEndian,
			ds: func() []byte {
				inner := rdNewEnc(false, false).item(undefinedLength).
					str(NewTag(0x0008, 0x1155), "UI", "1.2.3.4.5").
					str(NewTag(0x0029, 0x0010), "LO", "ACME").
					hdr(NewTag(0x0029, 0x1010), "", undefinedLength).item(undefinedLength).str(TagPatientID, "", "in").itemEnd().seqEnd().
					itemEnd().seqEnd()
				e := rdNewEnc(true, false).hdr(NewTag(0x0029, 0x1001), "UN", undefinedLength).raw(inner.b...)
				return e.str(TagPatientID, "LO", "after").b
			}(),
			check: func(t *testing.T, ds *Dataset) {
				un := ds.Get(NewTag(0x0029, 0x1001))
				if un.VR != "SQ" || len(un.Items) != 1 {
					t.Fatalf("UN = %+v", un)
				}
				if got := un.Items[0].String(NewTag(0x0008, 0x1155)); got != "1.2.3.4.5" {
					t.Errorf("UI in UN item = %q", got)
				}
				if got := un.Items[0].String(NewTag(0x0029, 0x0010)); got != "ACME" {
					t.Errorf("private creator in UN item = %q (VR %s)", got, un.Items[0].Get(NewTag(0x0029, 0x0010)).VR)
				}
				priv := un.Items[0].Get(NewTag(0x0029, 0x1010))
				if priv.VR != "SQ" || priv.Items[0].String(TagPatientID) != "in" {
					t.Errorf("undefined-length private element in implicit VR = %+v", priv)
				}
				if ds.String(TagPatientID) != "after" {
					t.Errorf("after UN: %q", ds.String(TagPatientID))
				}
			},
		},
		{
			name: "UN of undefined length in big endian is still implicit LE inside",
			ts:   ExplicitVRBigEndian,
			ds: func() []byte {
				inner := rdNewEnc(false, false).item(undefinedLength).str(NewTag(0x0008, 0x1155), "UI", "9.8").itemEnd().seqEnd()
				return rdNewEnc(true, true).hdr(NewTag(0x0029, 0x1001), "UN", undefinedLength).raw(inner.b...).us(TagRows, 512).b
			}(),
			check: func(t *testing.T, ds *Dataset) {
				un := ds.Get(NewTag(0x0029, 0x1001))
				if un.VR != "SQ" || len(un.Items) != 1 || un.Items[0].String(NewTag(0x0008, 0x1155)) != "9.8" {
					t.Errorf("UN = %+v", un)
				}
				if v, _ := ds.Int(TagRows); v != 512 {
					t.Errorf("Rows after UN = %d (byte order not restored?)", v)
				}
			},
		},
		{
			name: "encapsulated icon pixel data inside an item is skipped",
			ts:   JPEGBaseline8Bit,
			ds: rdNewEnc(true, false).hdr(NewTag(0x0088, 0x0200), "SQ", undefinedLength).item(undefinedLength).
				us(TagRows, 2).hdr(TagPixelData, "OB", undefinedLength).item(0).item(4).raw(1, 2, 3, 4).seqEnd().
				itemEnd().seqEnd().str(TagPatientID, "LO", "after").b,
			check: func(t *testing.T, ds *Dataset) {
				icon := ds.Get(NewTag(0x0088, 0x0200)).Items[0]
				if px := icon.Get(TagPixelData); px == nil || px.Loaded() {
					t.Errorf("icon pixel data = %+v", px)
				}
				if ds.String(TagPatientID) != "after" {
					t.Errorf("after icon: %q", ds.String(TagPatientID))
				}
			},
		},
		{
			name: "stray sequence delimiter at the top level is skipped",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).str(TagPatientID, "LO", "a").seqEnd().str(TagPatientSex, "CS", "F").b,
			check: func(t *testing.T, ds *Dataset) {
				if ds.String(TagPatientSex) != "F" {
					t.Errorf("after stray delimiter: %v", ds.Elements)
				}
			},
		},
		{
			name: "item character set applies only inside the item",
			ts:   ExplicitVRLittleEndian,
			ds: rdNewEnc(true, false).str(TagSpecificCharacterSet, "CS", "ISO_IR 192").
				hdr(NewTag(0x0040, 0xa730), "SQ", undefinedLength).item(undefinedLength).
				str(TagSpecificCharacterSet, "CS", "ISO_IR 100").str(NewTag(0x0040, 0xa160), "UT", "J\xe9r\xf4me").itemEnd().seqEnd().
				str(TagPatientName, "PN", "张^伟").b,
			check: func(t *testing.T, ds *Dataset) {
				if got := ds.Get(NewTag(0x0040, 0xa730)).Items[0].String(NewTag(0x0040, 0xa160)); got != "Jérôme" {
					t.Errorf("item text %q", got)
				}
				if got := ds.String(TagPatientName); got != "张^伟" {
					t.Errorf("top-level text after the item %q", got)
				}
			},
		},
		{
			name: "FallbackCharset explains undeclared GB18030",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).str(TagPatientName, "PN", "\xd5\xc5^\xce\xb0").b,
			opts: ReadOptions{FallbackCharset: "GB18030"},
			check: func(t *testing.T, ds *Dataset) {
				if got := ds.String(TagPatientName); got != "张^伟" {
					t.Errorf("PatientName = %q, want 张^伟", got)
				}
			},
		},
		{
			name: "without FallbackCharset undeclared bytes are Latin-1",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).str(TagPatientName, "PN", "\xd5\xc5^\xce\xb0").b,
			check: func(t *testing.T, ds *Dataset) {
				if got := ds.String(TagPatientName); got != "ÕÅ^Î°" {
					t.Errorf("PatientName = %q, want ÕÅ^Î°", got)
				}
			},
		},
		{
			name: "text trimming by VR",
			ts:   ExplicitVRLittleEndian,
			ds: rdNewEnc(true, false).
				str(TagSOPInstanceUID, "UI", "1.2.3\x00").
				str(TagStudyDate, "DA", " 20240102").
				str(TagPatientID, "LO", "  A1 ").
				str(TagPatientName, "PN", " Doe^John  ").
				str(NewTag(0x0032, 0x4000), "LT", "  indented\\not split  ").
				str(TagImageType, "CS", " ORIGINAL \\ PRIMARY\\\\").
				str(TagAccessionNumber, "SH", "    ").b,
			check: func(t *testing.T, ds *Dataset) {
				want := map[Tag][]string{
					TagSOPInstanceUID:      {"1.2.3"},
					TagStudyDate:           {"20240102"},
					TagPatientID:           {"A1"},
					TagPatientName:         {" Doe^John"},
					NewTag(0x0032, 0x4000): {"  indented\\not split"},
					TagImageType:           {"ORIGINAL", "PRIMARY", "", ""},
					TagAccessionNumber:     {""},
				}
				for tag, w := range want {
					if got := ds.Strings(tag); !reflect.DeepEqual(got, w) {
						t.Errorf("%s = %q, want %q", tag, got, w)
					}
				}
			},
		},
		{
			name: "numbers: partial trailing value ignored, odd length tolerated",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).el(TagRows, "US", []byte{0, 2, 7}).el(NewTag(0x0018, 0x9087), "FD", make([]byte, 8)).b,
			check: func(t *testing.T, ds *Dataset) {
				if got := ds.Get(TagRows).Numbers; !reflect.DeepEqual(got, []float64{512}) {
					t.Errorf("Rows %v", got)
				}
				if got := ds.Get(NewTag(0x0018, 0x9087)).Numbers; !reflect.DeepEqual(got, []float64{0}) {
					t.Errorf("FD %v", got)
				}
			},
		},
		{
			name: "unknown explicit VR has a 4-byte length (PS3.5 6.2)",
			ts:   ExplicitVRLittleEndian,
			ds:   rdNewEnc(true, false).hdr(NewTag(0x0009, 0x1001), "ZZ", 2).raw(7, 8).str(TagPatientID, "LO", "x").b,
			check: func(t *testing.T, ds *Dataset) {
				if e := ds.Get(NewTag(0x0009, 0x1001)); e.VR != "ZZ" || !bytes.Equal(e.Bytes, []byte{7, 8}) {
					t.Errorf("ZZ element %+v", e)
				}
				if ds.String(TagPatientID) != "x" {
					t.Error("element after unknown VR lost")
				}
			},
		},
		{
			name: "implicit VR: US or SS by Pixel Representation, private creator, unknown tag",
			ts:   ImplicitVRLittleEndian,
			ds: rdNewEnc(false, false).
				raw(0x09, 0x00, 0x10, 0x00, 4, 0, 0, 0, 'A', 'C', 'M', 'E').
				raw(0x09, 0x00, 0x01, 0x10, 2, 0, 0, 0, 1, 2).
				raw(0x28, 0x00, 0x03, 0x01, 2, 0, 0, 0, 0, 0).
				raw(0x28, 0x00, 0x06, 0x01, 2, 0, 0, 0, 0xfb, 0xff).
				raw(0x28, 0x00, 0x20, 0x01, 2, 0, 0, 0, 0xfb, 0xff).b,
			check: func(t *testing.T, ds *Dataset) {
				if e := ds.Get(NewTag(0x0009, 0x0010)); e.VR != "LO" || e.Strings[0] != "ACME" {
					t.Errorf("private creator %+v", e)
				}
				if e := ds.Get(NewTag(0x0009, 0x1001)); e.VR != "UN" {
					t.Errorf("private element %+v", e)
				}
				// Pixel Representation 0: unsigned.
				if e := ds.Get(NewTag(0x0028, 0x0106)); e.VR != "US" || e.Numbers[0] != 65531 {
					t.Errorf("smallest pixel value %+v", e)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ReadPart10(bytes.NewReader(rdPart10(tc.ts, tc.ds)), tc.opts)
			if tc.check == nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadPart10: %v", err)
			}
			tc.check(t, h.Dataset)
		})
	}
}

func TestReadStart(t *testing.T) {
	implicitDS := rdNewEnc(false, false).str(TagSOPClassUID, "", "1.2.840.10008.5.1.4.1.1.7").str(TagPatientID, "", "P1").b
	explicitDS := rdNewEnc(true, false).str(TagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7").str(TagPatientID, "LO", "P1").b
	noTS := func() []byte {
		b := rdPart10(ExplicitVRLittleEndian, explicitDS)
		// Blank the Transfer Syntax UID's value: the reader must guess.
		i := bytes.Index(b, []byte(ExplicitVRLittleEndian))
		copy(b[i:], bytes.Repeat([]byte{' '}, len(ExplicitVRLittleEndian)))
		return b
	}
	tests := []struct {
		name   string
		data   []byte
		wantTS string // "" means ErrMalformed
	}{
		{"bare implicit data set", implicitDS, ImplicitVRLittleEndian},
		{"bare explicit data set", explicitDS, ExplicitVRLittleEndian},
		{"meta without transfer syntax", noTS(), ExplicitVRLittleEndian},
		// A private syntax: HTJ2K (.201), which this case used, is known now.
		{"unknown transfer syntax, explicit bytes", rdPart10("2.25.314159265358979323846", explicitDS), "2.25.314159265358979323846"},
		{"empty", nil, ""},
		{"text", []byte("hello, this is not DICOM at all, just some text in a file"), ""},
		{"zero preamble without DICM", make([]byte, 300), ""},
		{"preamble and DICM only", append(make([]byte, 128), "DICM"...), ImplicitVRLittleEndian},
		{"one byte", []byte{8}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ReadPart10(bytes.NewReader(tc.data), ReadOptions{})
			if tc.wantTS == "" {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.TransferSyntax != tc.wantTS {
				t.Errorf("TransferSyntax = %q, want %q", h.TransferSyntax, tc.wantTS)
			}
			if len(h.Dataset.Elements) > 0 && h.Dataset.String(TagPatientID) != "P1" {
				t.Errorf("PatientID = %q", h.Dataset.String(TagPatientID))
			}
		})
	}
}

func TestReadMetaImplicit(t *testing.T) {
	// Some writers put the meta in Implicit VR; the elements are read by dictionary VR.
	m := rdNewEnc(false, false)
	m.str(TagMediaStorageSOPInstanceUID, "", "1.2.3.4")
	m.str(TagTransferSyntaxUID, "", ImplicitVRLittleEndian)
	data := append(append(make([]byte, 128), "DICM"...), m.b...)
	data = append(data, rdNewEnc(false, false).str(TagPatientID, "", "P1").b...)
	h, err := ReadPart10(bytes.NewReader(data), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.TransferSyntax != ImplicitVRLittleEndian || h.Meta.String(TagMediaStorageSOPInstanceUID) != "1.2.3.4" || h.Dataset.String(TagPatientID) != "P1" {
		t.Errorf("got TS %q, meta %v, data set %v", h.TransferSyntax, h.Meta.Elements, h.Dataset.Elements)
	}
}

type rdFailingReader struct {
	data []byte
	err  error
}

func (r *rdFailingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadIOError: a failing reader is an I/O error, not malformed data.
func TestReadIOError(t *testing.T) {
	boom := errors.New("disk on fire")
	ds := rdNewEnc(true, false).str(TagPatientID, "LO", "P1").b
	data := rdPart10(ExplicitVRLittleEndian, ds)
	for _, n := range []int{0, 100, 140, len(data) - 3} {
		_, err := ReadPart10(&rdFailingReader{data: data[:n], err: boom}, ReadOptions{})
		if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
			t.Errorf("cut at %d: err = %v, want the reader's error and not ErrMalformed", n, err)
		}
	}
}

func TestReadDatasetSyntaxes(t *testing.T) {
	tests := []struct {
		name string
		ts   string
		data []byte
	}{
		{"implicit", ImplicitVRLittleEndian, rdNewEnc(false, false).us(TagRows, 512).str(TagPatientID, "", "P1").b},
		{"explicit", ExplicitVRLittleEndian, rdNewEnc(true, false).us(TagRows, 512).str(TagPatientID, "LO", "P1").b},
		{"big endian", ExplicitVRBigEndian, rdNewEnc(true, true).us(TagRows, 512).str(TagPatientID, "LO", "P1").b},
		{"guess explicit", "", rdNewEnc(true, false).us(TagRows, 512).str(TagPatientID, "LO", "P1").b},
		{"guess implicit", "", rdNewEnc(false, false).us(TagRows, 512).str(TagPatientID, "", "P1").b},
		{"deflated", DeflatedExplicitVRLittleEndian, func() []byte {
			var b bytes.Buffer
			w, _ := flate.NewWriter(&b, flate.BestCompression)
			w.Write(rdNewEnc(true, false).us(TagRows, 512).str(TagPatientID, "LO", "P1").b)
			w.Close()
			return b.Bytes()
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := ReadDataset(bytes.NewReader(tc.data), tc.ts, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := ds.Int(TagRows); v != 512 || ds.String(TagPatientID) != "P1" {
				t.Errorf("Rows %d, PatientID %q", v, ds.String(TagPatientID))
			}
		})
	}
}

func TestDatasetAccessors(t *testing.T) {
	ds := &Dataset{Elements: []*Element{
		{Tag: TagRows, VR: "US", Numbers: []float64{512}},
		{Tag: TagSeriesNumber, VR: "IS", Strings: []string{"9007199254740993"}},
		{Tag: TagInstanceNumber, VR: "IS", Strings: []string{"x"}},
		{Tag: TagPatientWeight, VR: "DS", Strings: []string{"70.5"}},
		{Tag: TagPatientSize, VR: "DS", Strings: []string{"2.0"}},
		{Tag: TagModality, VR: "CS", Strings: []string{"CT"}},
		{Tag: NewTag(0x0018, 0x9087), VR: "FD", Numbers: []float64{1e300}},
	}}
	ints := []struct {
		tag  Tag
		want int64
		ok   bool
	}{
		{TagRows, 512, true},
		{TagSeriesNumber, 9007199254740993, true}, // beyond 2^53: parsed exactly
		{TagInstanceNumber, 0, false},
		{TagPatientWeight, 0, false}, // not whole
		{TagPatientSize, 2, true},
		{TagModality, 0, false},
		{NewTag(0x0018, 0x9087), 0, false}, // out of int64 range
		{TagColumns, 0, false},             // absent
	}
	for _, c := range ints {
		if v, ok := ds.Int(c.tag); v != c.want || ok != c.ok {
			t.Errorf("Int(%s) = %d, %v; want %d, %v", c.tag, v, ok, c.want, c.ok)
		}
	}
	if f, ok := ds.Float(TagPatientWeight); f != 70.5 || !ok {
		t.Errorf("Float = %v, %v", f, ok)
	}
	var nilDS *Dataset
	if nilDS.Get(TagRows) != nil || nilDS.String(TagRows) != "" {
		t.Error("nil data set accessors")
	}
}

func BenchmarkReadPart10(b *testing.B) {
	_, variants := rdFixtures(b)
	for _, v := range variants[:3] {
		data, err := os.ReadFile(v.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ReadPart10(bytes.NewReader(data), ReadOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
