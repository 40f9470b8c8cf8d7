package viewer

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"pacsd/dicom"
)

// syntheticDR writes a w x h, 12-bit MONOCHROME2 DX image (Explicit VR Little Endian,
// native pixels) with a picture of smooth structures, for tests and benchmarks that need a
// full-size radiograph. Generated at test time, never committed.
func syntheticDR(t testing.TB, study, series, sop, name string, w, h int) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := dicom.WriteFileMeta(&out, dicom.FileMeta{SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1",
		SOPInstanceUID: sop, TransferSyntaxUID: dicom.ExplicitVRLittleEndian}); err != nil {
		t.Fatal(err)
	}
	enc, err := dicom.NewEncoder(&out, dicom.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	text := func(tag uint32, vr, s string) {
		b, err := dicom.EncodeText(s, []string{"ISO_IR 192"}, vr)
		if err != nil {
			t.Fatal(err)
		}
		enc.WriteElement(dicom.Tag(tag), vr, b)
	}
	text(0x00080005, "CS", "ISO_IR 192")
	text(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.1.1")
	text(0x00080018, "UI", sop)
	text(0x00080020, "DA", "20260302")
	text(0x00080030, "TM", "093000")
	text(0x00080060, "CS", "DX")
	text(0x00100010, "PN", name)
	text(0x00100020, "LO", "BIG001")
	text(0x00100040, "CS", "M")
	text(0x00180015, "CS", "CHEST")
	text(0x0020000D, "UI", study)
	text(0x0020000E, "UI", series)
	text(0x00200011, "IS", "1")
	text(0x00200013, "IS", "1")
	enc.WriteUint16(dicom.Tag(0x00280002), "US", 1)
	text(0x00280004, "CS", "MONOCHROME2")
	enc.WriteUint16(dicom.Tag(0x00280010), "US", uint16(h))
	enc.WriteUint16(dicom.Tag(0x00280011), "US", uint16(w))
	enc.WriteUint16(dicom.Tag(0x00280100), "US", 16)
	enc.WriteUint16(dicom.Tag(0x00280101), "US", 12)
	enc.WriteUint16(dicom.Tag(0x00280102), "US", 11)
	enc.WriteUint16(dicom.Tag(0x00280103), "US", 0)
	text(0x00281050, "DS", "2048")
	text(0x00281051, "DS", "4096")
	px := make([]byte, 2*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			v := 2048 + 900*math.Sin(fx*17)*math.Cos(fy*11) + 700*math.Exp(-((fx-0.35)*(fx-0.35)+(fy-0.5)*(fy-0.5))*30) -
				600*math.Exp(-((fx-0.68)*(fx-0.68)+(fy-0.45)*(fy-0.45))*25) + float64((x*7+y*13)%61)
			binary.LittleEndian.PutUint16(px[2*(y*w+x):], uint16(min(max(v, 0), 4095)))
		}
	}
	enc.WriteElement(dicom.Tag(0x7FE00010), "OW", px)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
