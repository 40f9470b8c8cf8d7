package dicomweb

import (
	"bytes"
	"encoding/binary"
	"io"
	"sort"
	"testing"

	"pacsd/dicom"
)

// Test objects the committed corpus does not have (large documents, non-storage SOP
// classes, big multi-frame parts, whole series for benchmarks) are written here with
// pacsd's own Part-10 writer; their content is whatever the test says it is.

// genElement is one element of a generated object; value is already encoded.
type genElement struct {
	tag   dicom.Tag
	vr    string
	value []byte
	items [][]genElement // a sequence (vr "SQ") of these items
}

// genObject describes an object to write.
type genObject struct {
	sopClass, sop, study, series string
	ts                           string // default Explicit VR Little Endian
	elements                     []genElement
	// Pixel Data (OW, native), streamed from pixels when pixelLen > 0.
	pixelLen int64
	pixels   func() io.Reader
	// Encapsulated Pixel Data (PS3.5 A.4) written as given: a Basic Offset Table and
	// fragments, when fragments is not nil.
	bot       []uint32
	fragments [][]byte
}

func (g genObject) with(tag dicom.Tag, vr, v string) genObject {
	g.elements = append(append([]genElement(nil), g.elements...), genElement{tag: tag, vr: vr, value: []byte(v)})
	return g
}

// write writes the Part-10 object to w.
func (g genObject) write(w io.Writer) error {
	ts := g.ts
	if ts == "" {
		ts = dicom.ExplicitVRLittleEndian
	}
	if _, err := dicom.WriteFileMeta(w, dicom.FileMeta{SOPClassUID: g.sopClass, SOPInstanceUID: g.sop, TransferSyntaxUID: ts}); err != nil {
		return err
	}
	enc, err := dicom.NewEncoder(w, ts)
	if err != nil {
		return err
	}
	els := append([]genElement{
		{tag: dicom.TagSOPClassUID, vr: "UI", value: []byte(g.sopClass)},
		{tag: dicom.TagSOPInstanceUID, vr: "UI", value: []byte(g.sop)},
		{tag: dicom.TagStudyInstanceUID, vr: "UI", value: []byte(g.study)},
		{tag: dicom.TagSeriesInstanceUID, vr: "UI", value: []byte(g.series)},
	}, g.elements...)
	writeGenElements(enc, els)
	if g.pixelLen > 0 {
		enc.WriteElementFrom(dicom.TagPixelData, "OW", uint32(g.pixelLen), g.pixels())
	}
	if err := enc.Close(); err != nil || g.fragments == nil {
		return err
	}
	// Written by hand so that tests control the offset table and the fragmentation.
	le := binary.LittleEndian
	item := func(n int) []byte { return le.AppendUint32([]byte{0xFE, 0xFF, 0x00, 0xE0}, uint32(n)) }
	b := []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}
	b = append(b, item(4*len(g.bot))...)
	for _, o := range g.bot {
		b = le.AppendUint32(b, o)
	}
	for _, f := range g.fragments {
		b = append(append(b, item(len(f))...), f...)
	}
	b = append(b, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0)
	_, err = w.Write(b)
	return err
}

func writeGenElements(enc *dicom.Encoder, els []genElement) {
	els = append([]genElement(nil), els...)
	sort.SliceStable(els, func(i, j int) bool { return els[i].tag < els[j].tag })
	for _, e := range els {
		switch e.vr {
		case "SQ":
			enc.BeginSequence(e.tag)
			for _, item := range e.items {
				enc.BeginItem()
				writeGenElements(enc, item)
				enc.EndItem()
			}
			enc.EndSequence()
		case "US":
			var v []uint16
			for i := 0; i+1 < len(e.value); i += 2 {
				v = append(v, uint16(e.value[i])|uint16(e.value[i+1])<<8)
			}
			enc.WriteUint16(e.tag, e.vr, v...)
		default:
			enc.WriteElement(e.tag, e.vr, e.value)
		}
	}
}

func (g genObject) bytes(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := g.write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// us16 encodes US values for genElement.
func us16(v ...uint16) string {
	b := make([]byte, 0, 2*len(v))
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8))
	}
	return string(b)
}

// imageObject is a small native grey image with the given geometry; its pixel bytes are
// a deterministic pattern so tests can recompute them.
func imageObject(sop, study, series string, rows, cols, frames int) genObject {
	n := int64(rows * cols * 2 * frames)
	g := genObject{sopClass: "1.2.840.10008.5.1.4.1.1.7", sop: sop, study: study, series: series,
		pixelLen: n, pixels: func() io.Reader { return io.LimitReader(newPattern(), n) }}
	g = g.with(dicom.TagModality, "CS", "OT").
		with(dicom.TagSamplesPerPixel, "US", us16(1)).
		with(dicom.TagPhotometricInterpretation, "CS", "MONOCHROME2").
		with(dicom.TagRows, "US", us16(uint16(rows))).
		with(dicom.TagColumns, "US", us16(uint16(cols))).
		with(dicom.TagBitsAllocated, "US", us16(16)).
		with(dicom.TagBitsStored, "US", us16(12)).
		with(0x00280102, "US", us16(11)).
		with(dicom.TagPixelRepresentation, "US", us16(0))
	if frames > 1 {
		g = g.with(dicom.TagNumberOfFrames, "IS", itoaPad(frames))
	}
	return g
}

func itoaPad(n int) string {
	s := []byte{}
	for n > 0 || len(s) == 0 {
		s = append([]byte{byte('0' + n%10)}, s...)
		n /= 10
	}
	return string(s)
}

// patternReader yields byte i of its stream as byte(i*7+i/251): not constant, cheap, and
// the same for every reader.
type patternReader struct{ off *int64 }

func (p patternReader) Read(b []byte) (int, error) {
	if p.off == nil {
		return 0, io.ErrNoProgress
	}
	for i := range b {
		o := *p.off + int64(i)
		b[i] = byte(o*7 + o/251)
	}
	*p.off += int64(len(b))
	return len(b), nil
}

func newPattern() io.Reader { var o int64; return patternReader{off: &o} }
