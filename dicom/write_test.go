package dicom

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/internal/peertest"
)

func TestWriteFileMeta(t *testing.T) {
	var buf bytes.Buffer
	n, err := WriteFileMeta(&buf, FileMeta{
		SOPClassUID:       "1.2.840.10008.5.1.4.1.1.7",
		SOPInstanceUID:    "1.2.3.4.5\x00", // as a peer may send it: padded, odd inside
		TransferSyntaxUID: ExplicitVRLittleEndian,
		SourceAETitle:     "MODALITY1  ",
	})
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if n != int64(len(b)) {
		t.Errorf("returned %d, wrote %d", n, len(b))
	}
	if !bytes.Equal(b[:128], make([]byte, 128)) || string(b[128:132]) != "DICM" {
		t.Fatalf("preamble/prefix wrong: % X", b[:132])
	}
	// (0002,0000) UL 4 <length of the rest> (PS3.10 7.1).
	if got := hex.EncodeToString(b[132:140]); got != "02000000554c0400" {
		t.Fatalf("group length header %s", got)
	}
	if gl := binary.LittleEndian.Uint32(b[140:144]); int(gl) != len(b)-144 {
		t.Errorf("group length %d, rest is %d bytes", gl, len(b)-144)
	}
	for _, want := range [][]byte{
		{0x02, 0x00, 0x01, 0x00, 'O', 'B', 0, 0, 2, 0, 0, 0, 0x00, 0x01},
		append([]byte{0x02, 0x00, 0x03, 0x00, 'U', 'I', 10, 0}, "1.2.3.4.5\x00"...), // NUL pad
		append([]byte{0x02, 0x00, 0x10, 0x00, 'U', 'I', 20, 0}, ExplicitVRLittleEndian+"\x00"...),
		append([]byte{0x02, 0x00, 0x12, 0x00, 'U', 'I', byte(len(ImplementationClassUID) + len(ImplementationClassUID)%2), 0}, ImplementationClassUID...),
		append([]byte{0x02, 0x00, 0x13, 0x00, 'S', 'H', 8, 0}, ImplementationVersionName...),
		append([]byte{0x02, 0x00, 0x16, 0x00, 'A', 'E', 10, 0}, "MODALITY1 "...), // trimmed, re-padded
	} {
		if !bytes.Contains(b, want) {
			t.Errorf("meta lacks % X", want)
		}
	}

	// DCMTK must read it, and the data set after it.
	enc, err := NewEncoder(&buf, ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	enc.WriteString(TagSOPInstanceUID, "UI", "1.2.3.4.5")
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	out := dcmdumpBytes(t, buf.Bytes())
	for tag, want := range map[string]string{
		"(0002,0003) UI": "[1.2.3.4.5]",
		"(0002,0013) SH": "[" + ImplementationVersionName + "]",
		"(0002,0016) AE": "[MODALITY1]",
		"(0008,0018) UI": "[1.2.3.4.5]",
	} {
		if got := dumpValue(out, tag); got != want {
			t.Errorf("%s: dcmdump shows %q, want %q", tag, got, want)
		}
	}
}

func TestWriteFileMetaOmitsEmptySourceAE(t *testing.T) {
	var buf bytes.Buffer
	if _, err := WriteFileMeta(&buf, FileMeta{SOPClassUID: "1.2", SOPInstanceUID: "1.3", TransferSyntaxUID: ImplicitVRLittleEndian}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte{0x02, 0x00, 0x16, 0x00}) {
		t.Errorf("(0002,0016) written without a Source AE Title")
	}
}

func TestWriteFileMetaErrors(t *testing.T) {
	ok := FileMeta{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7", SOPInstanceUID: "1.2.3", TransferSyntaxUID: ExplicitVRLittleEndian}
	tests := []struct {
		name string
		edit func(*FileMeta)
	}{
		{"empty class", func(m *FileMeta) { m.SOPClassUID = "" }},
		{"empty instance", func(m *FileMeta) { m.SOPInstanceUID = "\x00" }},
		{"empty syntax", func(m *FileMeta) { m.TransferSyntaxUID = "" }},
		{"letters", func(m *FileMeta) { m.SOPInstanceUID = "1.2.abc" }},
		{"inner space", func(m *FileMeta) { m.SOPInstanceUID = "1.2 .3" }},
		{"65 chars", func(m *FileMeta) { m.SOPInstanceUID = "1." + strings.Repeat("2", 63) }},
		{"empty component", func(m *FileMeta) { m.SOPInstanceUID = "1..2" }},
		{"trailing dot", func(m *FileMeta) { m.SOPClassUID = "1.2." }},
		{"AE 17 chars", func(m *FileMeta) { m.SourceAETitle = strings.Repeat("A", 17) }},
		{"AE backslash", func(m *FileMeta) { m.SourceAETitle = `A\B` }},
		{"AE control", func(m *FileMeta) { m.SourceAETitle = "A\nB" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.edit(&m)
			var buf bytes.Buffer
			if _, err := WriteFileMeta(&buf, m); err == nil {
				t.Fatalf("accepted %+v", m)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
	// The 64-character limit itself is fine.
	m := ok
	m.SOPInstanceUID = "1." + strings.Repeat("2", 62)
	if _, err := WriteFileMeta(&bytes.Buffer{}, m); err != nil {
		t.Errorf("64-character UID refused: %v", err)
	}
	// Leading zeros break PS3.5 9.1 but modalities send them: the image is kept.
	m = ok
	m.SOPInstanceUID = "1.2.03.4"
	if _, err := WriteFileMeta(&bytes.Buffer{}, m); err != nil {
		t.Errorf("UID with a leading zero refused: %v", err)
	}
}

// TestEncoderBytes pins the byte layout of PS3.5 7.1 (explicit short/long forms, implicit)
// and the big endian swapping by VR.
func TestEncoderBytes(t *testing.T) {
	tests := []struct {
		name  string
		ts    string
		write func(e *Encoder)
		want  string
	}{
		{"explicit LE short form, space pad", ExplicitVRLittleEndian,
			func(e *Encoder) { e.WriteString(TagPatientName, "PN", "Doe") },
			"10001000 504e 0400 446f6520"},
		{"explicit LE UI NUL pad", ExplicitVRLittleEndian,
			func(e *Encoder) { e.WriteString(TagSOPInstanceUID, "UI", "1.2.3") },
			"08001800 5549 0600 312e322e3300"},
		{"explicit LE long form OB NUL pad", ExplicitVRLittleEndian,
			func(e *Encoder) { e.WriteElement(0x00420011, "OB", []byte{1, 2, 3}) },
			"42001100 4f42 0000 04000000 01020300"},
		{"explicit LE UT long form", ExplicitVRLittleEndian,
			func(e *Encoder) { e.WriteString(0x0040A160, "UT", "ab") },
			"4000 60a1 5554 0000 02000000 6162"},
		{"implicit LE", ImplicitVRLittleEndian,
			func(e *Encoder) { e.WriteUint16(TagRows, "US", 512) },
			"28001000 02000000 0002"},
		{"explicit BE US swapped", ExplicitVRBigEndian,
			func(e *Encoder) { e.WriteUint16(TagRows, "US", 512, 1) },
			"00280010 5553 0004 0200 0001"},
		{"explicit BE UL swapped", ExplicitVRBigEndian,
			func(e *Encoder) { e.WriteUint32(0x00281041, "UL", 0x01020304) },
			"00281041 554c 0004 01020304"},
		{"explicit BE FD swapped by 8", ExplicitVRBigEndian,
			func(e *Encoder) {
				b := make([]byte, 8)
				binary.LittleEndian.PutUint64(b, math.Float64bits(1.5))
				e.WriteElement(0x00181063, "FD", b)
			},
			"00181063 4644 0008 3ff8000000000000"},
		{"explicit BE AT as two uint16", ExplicitVRBigEndian,
			func(e *Encoder) { e.WriteUint16(0x00280009, "AT", 0x0018, 0x1063) },
			"00280009 4154 0004 0018 1063"},
		{"explicit BE OW long form swapped", ExplicitVRBigEndian,
			func(e *Encoder) { e.WriteUint16(TagPixelData, "OW", 0x0102, 0x0304) },
			"7fe00010 4f57 0000 00000004 0102 0304"},
		{"explicit BE OB not swapped", ExplicitVRBigEndian,
			func(e *Encoder) { e.WriteElement(TagPixelData, "OB", []byte{1, 2}) },
			"7fe00010 4f42 0000 00000002 0102"},
		{"explicit BE text not swapped", ExplicitVRBigEndian,
			func(e *Encoder) { e.WriteString(TagModality, "CS", "DX") },
			"00080060 4353 0002 4458"},
		{"sequence explicit LE", ExplicitVRLittleEndian,
			func(e *Encoder) {
				e.BeginSequence(0x00082218)
				e.BeginItem()
				e.WriteString(0x00080100, "SH", "T1")
				e.EndItem()
				e.EndSequence()
			},
			"08001822 5351 0000 ffffffff" + "feff00e0 ffffffff" + "08000001 5348 0200 5431" +
				"feff0de0 00000000" + "feffdde0 00000000"},
		{"sequence implicit LE", ImplicitVRLittleEndian,
			func(e *Encoder) {
				e.BeginSequence(0x00082218)
				e.BeginItem()
				e.EndItem()
				e.EndSequence()
			},
			"08001822 ffffffff feff00e0 ffffffff feff0de0 00000000 feffdde0 00000000"},
		{"sequence explicit BE: item tags big endian too", ExplicitVRBigEndian,
			func(e *Encoder) {
				e.BeginSequence(0x00082218)
				e.BeginItem()
				e.EndItem()
				e.EndSequence()
			},
			"00082218 5351 0000 ffffffff fffee000 ffffffff fffee00d 00000000 fffee0dd 00000000"},
		{"encapsulated: empty BOT, even fragments, delimiter", JPEGBaseline8Bit,
			func(e *Encoder) { e.WriteEncapsulatedPixelData([][]byte{{0xff, 0xd8, 0xd9}, {1, 2}}) },
			"e07f1000 4f42 0000 ffffffff" + "feff00e0 00000000" + "feff00e0 04000000 ffd8d900" +
				"feff00e0 02000000 0102" + "feffdde0 00000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			e, err := NewEncoder(&buf, tt.ts)
			if err != nil {
				t.Fatal(err)
			}
			tt.write(e)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.want, " ", "")
			if got := hex.EncodeToString(buf.Bytes()); got != want {
				t.Errorf("\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

func TestEncoderErrors(t *testing.T) {
	tests := []struct {
		name  string
		ts    string
		write func(e *Encoder)
	}{
		{"descending tags", ExplicitVRLittleEndian, func(e *Encoder) {
			e.WriteString(TagPatientName, "PN", "A")
			e.WriteString(TagModality, "CS", "DX")
		}},
		{"repeated tag", ExplicitVRLittleEndian, func(e *Encoder) {
			e.WriteString(TagModality, "CS", "DX")
			e.WriteString(TagModality, "CS", "CR")
		}},
		{"descending inside item", ExplicitVRLittleEndian, func(e *Encoder) {
			e.BeginSequence(0x00082218)
			e.BeginItem()
			e.WriteString(0x00080104, "LO", "x")
			e.WriteString(0x00080100, "SH", "x")
		}},
		{"after sequence, lower tag", ExplicitVRLittleEndian, func(e *Encoder) {
			e.BeginSequence(0x00082218)
			e.EndSequence()
			e.WriteString(TagModality, "CS", "DX")
		}},
		{"meta group in data set", ExplicitVRLittleEndian, func(e *Encoder) {
			e.WriteString(TagTransferSyntaxUID, "UI", ExplicitVRLittleEndian)
		}},
		{"item tag as element", ExplicitVRLittleEndian, func(e *Encoder) { e.WriteElement(TagItem, "OB", nil) }},
		{"unknown VR", ExplicitVRLittleEndian, func(e *Encoder) { e.WriteElement(TagModality, "XX", nil) }},
		{"SQ through WriteElement", ExplicitVRLittleEndian, func(e *Encoder) { e.WriteElement(0x00082218, "SQ", nil) }},
		{"odd US", ExplicitVRLittleEndian, func(e *Encoder) { e.WriteElement(TagRows, "US", []byte{1, 2, 3}) }},
		{"odd OW", ExplicitVRLittleEndian, func(e *Encoder) { e.WriteElement(TagPixelData, "OW", []byte{1}) }},
		{"FL not multiple of 4", ExplicitVRLittleEndian, func(e *Encoder) { e.WriteElement(0x00181063, "FL", make([]byte, 6)) }},
		{"short form overflow", ExplicitVRLittleEndian, func(e *Encoder) {
			e.WriteElement(TagStudyDescription, "LO", bytes.Repeat([]byte{'a'}, 0x10000))
		}},
		{"element between items", ExplicitVRLittleEndian, func(e *Encoder) {
			e.BeginSequence(0x00082218)
			e.WriteString(0x00080100, "SH", "x")
		}},
		{"BeginItem outside sequence", ExplicitVRLittleEndian, func(e *Encoder) { e.BeginItem() }},
		{"EndItem without item", ExplicitVRLittleEndian, func(e *Encoder) {
			e.BeginSequence(0x00082218)
			e.EndItem()
		}},
		{"EndSequence with item open", ExplicitVRLittleEndian, func(e *Encoder) {
			e.BeginSequence(0x00082218)
			e.BeginItem()
			e.EndSequence()
		}},
		{"sequence left open", ExplicitVRLittleEndian, func(e *Encoder) { e.BeginSequence(0x00082218) }},
		{"encapsulated in native syntax", ExplicitVRLittleEndian, func(e *Encoder) {
			e.WriteEncapsulatedPixelData([][]byte{{1, 2}})
		}},
		{"native pixel data in encapsulated syntax", JPEGBaseline8Bit, func(e *Encoder) {
			e.WriteElement(TagPixelData, "OB", []byte{1, 2})
		}},
		{"encapsulated without frames", JPEGBaseline8Bit, func(e *Encoder) { e.WriteEncapsulatedPixelData(nil) }},
		{"encapsulated empty frame", JPEGBaseline8Bit, func(e *Encoder) { e.WriteEncapsulatedPixelData([][]byte{{1, 2}, {}}) }},
		{"short stream", ExplicitVRLittleEndian, func(e *Encoder) {
			e.WriteElementFrom(TagPixelData, "OW", 8, bytes.NewReader([]byte{1, 2}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			e, err := NewEncoder(&buf, tt.ts)
			if err != nil {
				t.Fatal(err)
			}
			tt.write(e)
			if e.Close() == nil {
				t.Fatalf("no error; wrote % X", buf.Bytes())
			}
			// The error sticks: nothing more is written.
			n := buf.Len()
			e.WriteString(0xFFFC0000, "OB", "x")
			if buf.Len() != n || e.Err() == nil {
				t.Errorf("encoder kept writing after an error")
			}
		})
	}
}

func TestNewEncoderSyntaxes(t *testing.T) {
	for _, ts := range TransferSyntaxes() {
		if _, err := NewEncoder(&bytes.Buffer{}, ts.UID); err != nil {
			t.Errorf("%s: %v", ts.Name, err)
		}
	}
	if _, err := NewEncoder(&bytes.Buffer{}, "1.2.3.4"); err == nil {
		t.Errorf("unknown transfer syntax accepted")
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestEncoderWriterError(t *testing.T) {
	e, _ := NewEncoder(&failWriter{after: 1}, ExplicitVRLittleEndian)
	e.WriteString(TagModality, "CS", "DX")
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the writer's error", err)
	}
	if _, err := WriteFileMeta(&failWriter{}, FileMeta{SOPClassUID: "1.2", SOPInstanceUID: "1.3", TransferSyntaxUID: "1.2.840.10008.1.2"}); err == nil {
		t.Errorf("WriteFileMeta hid the writer's error")
	}
}

// TestWriteElementFrom: streaming a value gives the same bytes as WriteElement, in both
// byte orders, across chunk boundaries, padded when odd.
func TestWriteElementFrom(t *testing.T) {
	big := make([]byte, 200_000) // several 64 KiB chunks, not a multiple of one
	for i := range big {
		big[i] = byte(i * 7)
	}
	tests := []struct {
		ts, vr string
		value  []byte
	}{
		{ExplicitVRLittleEndian, "OW", big},
		{ExplicitVRBigEndian, "OW", big},
		{ExplicitVRBigEndian, "OD", big},
		{ImplicitVRLittleEndian, "OB", big[:12345]},
		{ExplicitVRLittleEndian, "UT", []byte("odd")},
	}
	for _, tt := range tests {
		var a, b bytes.Buffer
		ea, _ := NewEncoder(&a, tt.ts)
		eb, _ := NewEncoder(&b, tt.ts)
		ea.WriteElement(TagPixelData, tt.vr, tt.value)
		eb.WriteElementFrom(TagPixelData, tt.vr, uint32(len(tt.value)), bytes.NewReader(tt.value))
		if ea.Err() != nil || eb.Err() != nil {
			t.Fatalf("%s %s: %v / %v", tt.ts, tt.vr, ea.Err(), eb.Err())
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s %s %d bytes: streamed encoding differs", tt.ts, tt.vr, len(tt.value))
		}
	}
}

// writeSample writes a Part-10 file exercising the VRs and structures pacsd writes, in ts.
func writeSample(t *testing.T, ts string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := WriteFileMeta(&buf, FileMeta{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
		SOPInstanceUID: "1.2.826.0.1.3680043.10.1", TransferSyntaxUID: ts}); err != nil {
		t.Fatal(err)
	}
	e, err := NewEncoder(&buf, ts)
	if err != nil {
		t.Fatal(err)
	}
	e.WriteString(TagSpecificCharacterSet, "CS", "ISO_IR 192")
	e.WriteString(TagImageType, "CS", `ORIGINAL\PRIMARY`)
	e.WriteString(TagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7")
	e.WriteString(TagSOPInstanceUID, "UI", "1.2.826.0.1.3680043.10.1")
	e.WriteString(TagModality, "CS", "OT")
	e.BeginSequence(0x00082218)
	for _, code := range []string{"T-D3000", "51185008"} {
		e.BeginItem()
		e.WriteString(0x00080100, "SH", code)
		e.WriteString(0x00080102, "SH", "SCT")
		e.EndItem()
	}
	e.EndSequence()
	e.WriteString(TagPatientName, "PN", "Zhang^Wei=张^伟")
	fd := make([]byte, 8)
	binary.LittleEndian.PutUint64(fd, math.Float64bits(33.25))
	e.WriteElement(0x00181063, "DS", []byte("33.25"))
	e.WriteUint32(0x00181064, "UL", 305419896)  // not the dictionary VR; explicit syntaxes keep the written one
	e.WriteElement(0x00209999, "UN", []byte{9}) // not in the dictionary; NUL-padded
	e.WriteUint16(TagSamplesPerPixel, "US", 1)
	e.WriteUint16(0x00280009, "AT", 0x0018, 0x1063)
	e.WriteUint16(TagRows, "US", 2)
	e.WriteUint16(TagColumns, "US", 2)
	e.WriteUint16(TagBitsAllocated, "US", 16)
	e.WriteUint16(0x00281041, "SS", 0xFFFE) // -2
	e.WriteElement(0x00282112, "DS", []byte("5.5"))
	e.WriteElement(0x0040A161, "FD", fd)
	e.WriteUint16(TagPixelData, "OW", 0x0102, 0x0304, 0x0506, 0x0708)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEncoderDcmdump: DCMTK reads what the encoder writes in each uncompressed syntax and
// finds the same values, so byte order and length forms agree with an independent reader.
func TestEncoderDcmdump(t *testing.T) {
	for _, ts := range []string{ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian} {
		t.Run(ts, func(t *testing.T) {
			out := dcmdumpBytes(t, writeSample(t, ts))
			if strings.Contains(out, "W: ") || strings.Contains(out, "E: ") {
				t.Errorf("dcmdump complained:\n%s", out)
			}
			want := map[string]string{
				"(0002,0010) UI": "[" + ts + "]",
				"(0008,0008) CS": `[ORIGINAL\PRIMARY]`,
				"(0010,0010) PN": "[Zhang^Wei=张^伟]",
				"(0028,0002) US": "1",
				"(0028,0009) AT": "(0018,1063)",
				"(0028,0010) US": "2",
				"(0028,1041) SS": "-2",
				"(0040,a161) FD": "33.25",
				"(7fe0,0010) OW": `0102\0304\0506\0708`,
			}
			if ts != ImplicitVRLittleEndian {
				want["(0018,1064) UL"] = "305419896"
				want["(0020,9999) UN"] = "09\\00"
			}
			for tag, w := range want {
				if got := dumpValue(out, tag); got != w {
					t.Errorf("%s: dcmdump shows %q, want %q", tag, got, w)
				}
			}
			if n := strings.Count(out, "(0008,0100) SH"); n != 2 {
				t.Errorf("dcmdump found %d code values in the sequence, want 2:\n%s", n, out)
			}
		})
	}
}

func TestEncapsulatedDcmdump(t *testing.T) {
	var buf bytes.Buffer
	if _, err := WriteFileMeta(&buf, FileMeta{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
		SOPInstanceUID: "1.2.3", TransferSyntaxUID: RLELossless}); err != nil {
		t.Fatal(err)
	}
	e, _ := NewEncoder(&buf, RLELossless)
	e.WriteString(TagSOPInstanceUID, "UI", "1.2.3")
	e.WriteEncapsulatedPixelData([][]byte{{1, 2, 3}, {4, 5, 6, 7}, {8}})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	out := dcmdumpBytes(t, buf.Bytes())
	if !strings.Contains(out, "PixelSequence #=4") { // offset table + 3 fragments
		t.Errorf("dcmdump does not see 4 items:\n%s", out)
	}
	for _, frag := range []string{`pi 01\02\03\00`, `pi 04\05\06\07`, `pi 08\00`} {
		if !strings.Contains(out, frag) {
			t.Errorf("fragment %q missing:\n%s", frag, out)
		}
	}
}

// dcmdumpBytes writes b to a temporary file and returns dcmdump's output (stderr included);
// the test fails if dcmdump cannot parse it. Skips when DCMTK is not installed.
func dcmdumpBytes(t *testing.T, b []byte) string {
	t.Helper()
	peertest.Tool(t, "dcmdump")
	p := filepath.Join(t.TempDir(), "x.dcm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dcmdump", "-Un", "+L", "+U8", p).CombinedOutput()
	if err != nil {
		t.Fatalf("dcmdump: %v\n%s", err, out)
	}
	return string(out)
}

// dumpValue returns the value column of the first dcmdump line starting (after indent)
// with prefix "(gggg,eeee) VR".
func dumpValue(out, prefix string) string {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimLeft(line, " ")
		if !strings.HasPrefix(line, prefix+" ") {
			continue
		}
		v := line[len(prefix)+1:]
		if i := strings.LastIndex(v, "#"); i >= 0 {
			v = v[:i]
		}
		return strings.TrimSpace(v)
	}
	return ""
}

// TestEncoderDeflated: in Deflated Explicit VR Little Endian the encoder writes a raw
// deflate stream (PS3.5 A.5) that ReadDataset reads back, and Close finishes it.
func TestEncoderDeflated(t *testing.T) {
	var b bytes.Buffer
	e, err := NewEncoder(&b, DeflatedExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("ZHANG^SAN ", 20)
	e.WriteString(TagSpecificCharacterSet, "CS", "ISO_IR 192")
	e.WriteString(TagPatientName, "PN", name)
	e.WriteString(TagStudyInstanceUID, "UI", "1.2.3.4")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if b.Len() == 0 || b.Len() >= len(name) {
		t.Fatalf("deflated data set is %d bytes for a %d-byte name: not deflated", b.Len(), len(name))
	}
	ds, err := ReadDataset(bytes.NewReader(b.Bytes()), DeflatedExplicitVRLittleEndian, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.String(TagStudyInstanceUID); got != "1.2.3.4" {
		t.Errorf("Study Instance UID read back = %q", got)
	}
	if got := ds.String(TagPatientName); strings.TrimSpace(got) != strings.TrimSpace(name) {
		t.Errorf("Patient's Name read back = %q", got)
	}
}
