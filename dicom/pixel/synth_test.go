package pixel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"pacsd/dicom"
)

// synth describes a small image object that the edge-case tests build with dicom.Encoder.
type synth struct {
	ts                                   string
	rows, cols, frames, samples          int
	bitsAlloc, bitsStored, highBit, prep int
	photometric                          string
	planar                               int // -1: absent
	window                               string
	rescale                              [2]string // slope, intercept; "" absent
	voiFunction                          string
	palette                              *synthPalette
	modalityLUT, voiLUT                  *LUT
	native                               []byte     // native Pixel Data value (little-endian)
	fragments                            [][][]byte // encapsulated: frames, each a list of fragments
	bot, eot                             bool
}

type synthPalette struct {
	entries, first, bits int
	r, g, b              []uint16
}

func (s synth) build(t testing.TB) []byte {
	t.Helper()
	if s.frames == 0 {
		s.frames = 1
	}
	if s.samples == 0 {
		s.samples = 1
	}
	if s.highBit == 0 {
		s.highBit = s.bitsStored - 1
	}
	if s.ts == "" {
		s.ts = dicom.ExplicitVRLittleEndian
	}
	var buf bytes.Buffer
	sop := "2.25.1234567890"
	if _, err := dicom.WriteFileMeta(&buf, dicom.FileMeta{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7", SOPInstanceUID: sop, TransferSyntaxUID: s.ts}); err != nil {
		t.Fatal(err)
	}
	enc, err := dicom.NewEncoder(&buf, s.ts)
	if err != nil {
		t.Fatal(err)
	}
	enc.WriteString(dicom.TagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7")
	enc.WriteString(dicom.TagSOPInstanceUID, "UI", sop)
	enc.WriteString(dicom.TagModality, "CS", "OT")
	enc.WriteUint16(tagSamplesPerPixel, "US", uint16(s.samples))
	enc.WriteString(tagPhotometricInterpretation, "CS", s.photometric)
	if s.samples == 3 && s.planar >= 0 {
		enc.WriteUint16(tagPlanarConfiguration, "US", uint16(s.planar))
	}
	if s.frames > 1 {
		enc.WriteString(tagNumberOfFrames, "IS", fmt.Sprint(s.frames))
	}
	enc.WriteUint16(tagRows, "US", uint16(s.rows))
	enc.WriteUint16(tagColumns, "US", uint16(s.cols))
	enc.WriteUint16(tagBitsAllocated, "US", uint16(s.bitsAlloc))
	enc.WriteUint16(tagBitsStored, "US", uint16(s.bitsStored))
	enc.WriteUint16(tagHighBit, "US", uint16(s.highBit))
	enc.WriteUint16(tagPixelRepresentation, "US", uint16(s.prep))
	if s.window != "" {
		var c, w string
		fmt.Sscan(s.window, &c, &w)
		enc.WriteString(tagWindowCenter, "DS", c)
		enc.WriteString(tagWindowWidth, "DS", w)
	}
	if s.rescale[1] != "" {
		enc.WriteString(tagRescaleIntercept, "DS", s.rescale[1])
	}
	if s.rescale[0] != "" {
		enc.WriteString(tagRescaleSlope, "DS", s.rescale[0])
		enc.WriteString(0x00281054, "LO", "HU")
	}
	if s.voiFunction != "" {
		enc.WriteString(tagVOILUTFunction, "CS", s.voiFunction)
	}
	if p := s.palette; p != nil {
		for k := 0; k < 3; k++ {
			enc.WriteUint16(tagRedPaletteDescriptor+dicom.Tag(k), "US", uint16(p.entries), uint16(p.first), uint16(p.bits))
		}
		for k, data := range [][]uint16{p.r, p.g, p.b} {
			enc.WriteElement(tagRedPaletteData+dicom.Tag(k), "OW", lutBytes(data, p.bits))
		}
	}
	for _, l := range []struct {
		tag dicom.Tag
		lut *LUT
	}{{tagModalityLUTSequence, s.modalityLUT}, {tagVOILUTSequence, s.voiLUT}} {
		if l.lut == nil {
			continue
		}
		enc.BeginSequence(l.tag)
		enc.BeginItem()
		enc.WriteUint16(tagLUTDescriptor, "US", uint16(len(l.lut.Data)), uint16(l.lut.FirstMapped), uint16(l.lut.Bits))
		if l.tag == tagModalityLUTSequence {
			enc.WriteString(0x00283004, "LO", "HU")
		}
		enc.WriteElement(tagLUTData, "OW", lutBytes(l.lut.Data, 16))
		enc.EndItem()
		enc.EndSequence()
	}
	if s.fragments == nil {
		vr := "OW"
		if s.bitsAlloc == 8 {
			vr = "OB"
		}
		enc.WriteElement(dicom.TagPixelData, vr, s.native)
	} else if s.eot {
		offs, lens := make([]byte, 8*len(s.fragments)), make([]byte, 8*len(s.fragments))
		pos := 0
		for i, fr := range s.fragments {
			binary.LittleEndian.PutUint64(offs[8*i:], uint64(pos))
			binary.LittleEndian.PutUint64(lens[8*i:], uint64(len(fr[0])))
			pos += 8 + len(fr[0])
		}
		enc.WriteElement(tagExtendedOffsetTable, "OV", offs)
		enc.WriteElement(tagExtendedOffsetTableLength, "OV", lens)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if s.fragments != nil {
		buf.Write(encapsulate(s.fragments, s.bot))
	}
	return buf.Bytes()
}

// lutBytes packs LUT entries: 16-bit words, or for 8-bit entries two per word (PS3.3
// C.7.6.3.1.6).
func lutBytes(data []uint16, bits int) []byte {
	if bits == 8 {
		b := make([]byte, len(data)+len(data)%2)
		for i, v := range data {
			b[i] = byte(v)
		}
		return b
	}
	b := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

// encapsulate writes an encapsulated Pixel Data element (PS3.5 A.4) by hand: the encoder
// writes only one fragment per frame and an empty offset table.
func encapsulate(frames [][][]byte, bot bool) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	item := func(tag uint32, n int) {
		var h [8]byte
		le.PutUint16(h[0:], uint16(tag>>16))
		le.PutUint16(h[2:], uint16(tag))
		le.PutUint32(h[4:], uint32(n))
		b.Write(h[:])
	}
	b.Write([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	var table []byte
	if bot {
		pos := 0
		for _, fr := range frames {
			table = le.AppendUint32(table, uint32(pos))
			for _, frag := range fr {
				pos += 8 + len(frag) + len(frag)%2
			}
		}
	}
	item(tagItem, len(table))
	b.Write(table)
	for _, fr := range frames {
		for _, frag := range fr {
			item(tagItem, len(frag)+len(frag)%2)
			b.Write(frag)
			if len(frag)%2 == 1 {
				b.WriteByte(0)
			}
		}
	}
	item(tagSequenceDelimitation, 0)
	return b.Bytes()
}

func le16(v []uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

// rleEncode is a minimal RLE Lossless encoder (PS3.5 Annex G) for building test frames:
// literal runs only, which every decoder must accept. samples are pixel-interleaved,
// bytesPer is 1 or 2.
func rleEncode(samples []uint16, comps, bytesPer int) []byte {
	n := len(samples) / comps
	nseg := comps * bytesPer
	header := make([]byte, 64)
	binary.LittleEndian.PutUint32(header, uint32(nseg))
	var body []byte
	for s := 0; s < nseg; s++ {
		binary.LittleEndian.PutUint32(header[4+4*s:], uint32(64+len(body)))
		c, shift := s/bytesPer, uint(8*(bytesPer-1-s%bytesPer))
		plane := make([]byte, n)
		for p := range plane {
			plane[p] = byte(samples[p*comps+c] >> shift)
		}
		for i := 0; i < len(plane); i += 128 {
			end := min(i+128, len(plane))
			body = append(body, byte(end-i-1))
			body = append(body, plane[i:end]...)
		}
		if len(body)%2 == 1 {
			body = append(body, 0x80) // no-op byte keeps segments even
		}
	}
	return append(header, body...)
}
