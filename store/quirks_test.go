package store_test

// Vendor quirks: objects as real modalities, workstations and old archives write them, each
// through Archive.Put. What a PACS must keep is stored byte for byte and indexed; what it
// cannot acknowledge honestly (a cut-off object, UIDs it cannot index) is refused and leaves
// nothing behind.

import (
	"bytes"
	"cmp"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/storetest"
)

// qb writes data elements byte by byte. dicom.Encoder pads odd values and checks tag order,
// which is exactly what these objects must be free to get wrong.
type qb struct {
	bytes.Buffer
	explicit bool
}

// longVR: explicit VR with 2 reserved bytes and a 4-byte length (PS3.5 Table 7.1-1).
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

func (b *qb) tag(t dicom.Tag) {
	binary.Write(b, binary.LittleEndian, t.Group())
	binary.Write(b, binary.LittleEndian, t.Element())
}

// hdr writes an element header; items and delimiters (group FFFE) never carry a VR.
func (b *qb) hdr(t dicom.Tag, vr string, length uint32) {
	b.tag(t)
	switch {
	case !b.explicit || t.Group() == 0xFFFE:
		binary.Write(b, binary.LittleEndian, length)
	case longVR(vr):
		b.WriteString(vr)
		b.Write([]byte{0, 0})
		binary.Write(b, binary.LittleEndian, length)
	default:
		b.WriteString(vr)
		binary.Write(b, binary.LittleEndian, uint16(length))
	}
}

// el writes an element with exactly the value given: no padding.
func (b *qb) el(t dicom.Tag, vr string, v []byte) {
	b.hdr(t, vr, uint32(len(v)))
	b.Write(v)
}

const undef = 0xFFFFFFFF

func (b *qb) item(length uint32) { b.hdr(dicom.TagItem, "", length) }
func (b *qb) itemEnd()           { b.hdr(dicom.TagItemDelimitationItem, "", 0) }
func (b *qb) seqEnd()            { b.hdr(dicom.TagSequenceDelimitationItem, "", 0) }

// qe is one top-level element of a quirk object; a nil w removes a base element.
type qe struct {
	tag dicom.Tag
	w   func(b *qb)
}

// str is a text element padded as PS3.5 6.2 asks (NUL for UI, space otherwise).
func str(t dicom.Tag, vr, s string) qe {
	v := []byte(s)
	if len(v)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" {
			pad = 0
		}
		v = append(v, pad)
	}
	return qe{t, func(b *qb) { b.el(t, vr, v) }}
}

// rawEl is an element with the value exactly as given.
func rawEl(t dicom.Tag, vr string, v []byte) qe {
	return qe{t, func(b *qb) { b.el(t, vr, v) }}
}

func us(t dicom.Tag, v uint16) qe {
	return rawEl(t, "US", binary.LittleEndian.AppendUint16(nil, v))
}

const (
	qClass  = "1.2.840.10008.5.1.4.1.1.7"
	qStudy  = "1.2.826.0.1.3680043.10.12" // odd length: padded with NUL unless a case says not
	qSeries = qStudy + ".1"
	qSOP    = qSeries + ".1"
)

func quirkBase() []qe {
	return []qe{
		str(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 192"),
		str(dicom.TagSOPClassUID, "UI", qClass),
		str(dicom.TagSOPInstanceUID, "UI", qSOP),
		str(dicom.TagStudyDate, "DA", "20240301"),
		str(dicom.TagModality, "CS", "OT"),
		str(dicom.TagPatientName, "PN", "Quirk^Patient"),
		str(dicom.TagPatientID, "LO", "Q1"),
		str(dicom.TagStudyInstanceUID, "UI", qStudy),
		str(dicom.TagSeriesInstanceUID, "UI", qSeries),
		str(dicom.TagSeriesNumber, "IS", "1"),
		str(dicom.TagInstanceNumber, "IS", "1"),
	}
}

// image is the Image Pixel module for an 8-bit monochrome image of rows x cols.
func image(rows, cols uint16) []qe {
	return []qe{
		us(dicom.TagSamplesPerPixel, 1),
		str(dicom.TagPhotometricInterpretation, "CS", "MONOCHROME2"),
		us(dicom.TagRows, rows),
		us(dicom.TagColumns, cols),
		us(dicom.TagBitsAllocated, 8),
		us(dicom.TagBitsStored, 8),
		us(0x00280102, 7), // High Bit
		us(dicom.TagPixelRepresentation, 0),
	}
}

// merge applies a case's elements to the base set (same tag replaces, nil w removes) and
// sorts the result by tag, as PS3.5 7.1 orders a data set.
func merge(base []qe, extra ...[]qe) []qe {
	m := map[dicom.Tag]qe{}
	for _, e := range base {
		m[e.tag] = e
	}
	for _, list := range extra {
		for _, e := range list {
			if e.w == nil {
				delete(m, e.tag)
			} else {
				m[e.tag] = e
			}
		}
	}
	out := make([]qe, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b qe) int { return cmp.Compare(a.tag, b.tag) })
	return out
}

// quirkObject builds meta + data set. noMeta leaves only the data set (ACR-NEMA style).
func quirkObject(t testing.TB, ts string, elems []qe, noMeta bool) []byte {
	t.Helper()
	syntax, ok := dicom.LookupTransferSyntax(ts)
	if !ok {
		t.Fatalf("unknown transfer syntax %s", ts)
	}
	var out bytes.Buffer
	if !noMeta {
		if _, err := dicom.WriteFileMeta(&out, dicom.FileMeta{SOPClassUID: qClass, SOPInstanceUID: qSOP, TransferSyntaxUID: ts}); err != nil {
			t.Fatal(err)
		}
	}
	b := &qb{explicit: syntax.ExplicitVR}
	for _, e := range elems {
		e.w(b)
	}
	if !syntax.Deflated {
		out.Write(b.Bytes())
		return out.Bytes()
	}
	// PS3.5 A.5: raw deflate (RFC 1951) of the Explicit VR Little Endian data set.
	zw, err := flate.NewWriter(&out, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// metaLength is the length of the File Meta Information WriteFileMeta writes for ts.
func metaLength(t testing.TB, ts string) int {
	t.Helper()
	var b bytes.Buffer
	n, err := dicom.WriteFileMeta(&b, dicom.FileMeta{SOPClassUID: qClass, SOPInstanceUID: qSOP, TransferSyntaxUID: ts})
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// setGroupLength rewrites (0002,0000): its value sits at byte 140 (preamble, "DICM", tag,
// VR and 2-byte length before it).
func setGroupLength(delta int) func([]byte) []byte {
	return func(b []byte) []byte {
		v := int(binary.LittleEndian.Uint32(b[140:]))
		binary.LittleEndian.PutUint32(b[140:], uint32(v+delta))
		return b
	}
}

func gb18030(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encapsulated writes JPEG-baseline-like Pixel Data: a Basic Offset Table with one entry per
// frame and each frame split over several fragments (PS3.5 A.4, Table A.4-2).
func encapsulated(frames [][][]byte, noDelimiter bool) qe {
	return qe{dicom.TagPixelData, func(b *qb) {
		var body qb
		var offsets []byte
		var pos uint32
		for _, frags := range frames {
			offsets = binary.LittleEndian.AppendUint32(offsets, pos)
			for _, f := range frags {
				body.item(uint32(len(f)))
				body.Write(f)
				pos += 8 + uint32(len(f))
			}
		}
		b.hdr(dicom.TagPixelData, "OB", undef)
		b.item(uint32(len(offsets)))
		b.Write(offsets)
		b.Write(body.Bytes())
		if !noDelimiter {
			b.seqEnd()
		}
	}}
}

// noise is n bytes of xorshift output: pixel data that deflate cannot shrink.
func noise(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// digitalSignatures is a Digital Signatures Sequence of undefined length, which PS3.5 puts
// after Pixel Data (its tag is larger), beyond where the header reader stops.
var digitalSignatures = qe{0xFFFAFFFA, func(b *qb) {
	b.hdr(0xFFFAFFFA, "SQ", undef)
	b.item(undef)
	b.el(0x04000005, "US", []byte{1, 0}) // MAC ID Number
	b.itemEnd()
	b.seqEnd()
}}

// jpegish is a fragment that starts and ends like JPEG; the archive never decodes it.
func jpegish(n int, fill byte) []byte {
	b := append([]byte{0xFF, 0xD8}, bytes.Repeat([]byte{fill}, n)...)
	return append(b, 0xFF, 0xD9)
}

func TestPutVendorQuirks(t *testing.T) {
	explicit, implicit := dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian
	privSeq := qe{0x00091010, func(b *qb) {
		// A private sequence of undefined length whose item (also of undefined length)
		// holds a private element and a standard one that must stay inside it.
		b.hdr(0x00091010, "SQ", undef)
		b.item(undef)
		b.el(0x00091001, "LO", []byte("INNER "))
		b.el(dicom.TagPatientID, "LO", []byte("NOT-THE-ID"))
		b.itemEnd()
		b.seqEnd()
	}}
	creator := str(0x00090010, "LO", "ACME 1.1")
	cases := []struct {
		name   string
		ts     string
		elems  []qe
		noMeta bool
		mutate func([]byte) []byte
		// fallback is the site's Config.FallbackCharset for this case.
		fallback string
		// What the index must say.
		wantName   string
		wantOffset int // DatasetOffset, added to the meta's length unless noMeta
	}{
		{name: "baseline explicit", ts: explicit},
		{name: "baseline implicit", ts: implicit},
		{
			name: "no preamble, stream starts with group 0002", ts: explicit,
			mutate:     func(b []byte) []byte { return b[132:] },
			wantOffset: -132,
		},
		{
			// ACR-NEMA style: a bare Implicit VR data set. STOW-RS clients and import
			// tools meet such files on old CDs; refusing them loses the images, so the
			// archive keeps the bytes as sent, records the guessed syntax, and marks
			// the data set as starting at 0 (there is no meta to skip).
			name: "no file meta at all (bare implicit data set)", ts: implicit, noMeta: true,
			wantOffset: 0,
		},
		{
			name: "bare explicit data set", ts: explicit, noMeta: true,
			wantOffset: 0,
		},
		{name: "meta group length 6 short", ts: explicit, mutate: setGroupLength(-6)},
		{name: "meta group length 6 long", ts: explicit, mutate: setGroupLength(6)},
		{name: "meta group length 2 short, implicit data set", ts: implicit, mutate: setGroupLength(-2)},
		{name: "meta group length 4 short, deflated data set", ts: dicom.DeflatedExplicitVRLittleEndian, mutate: setGroupLength(-4)},
		{name: "meta group length 4 long, deflated data set", ts: dicom.DeflatedExplicitVRLittleEndian, mutate: setGroupLength(4)},
		{
			name: "odd-length text values, unpadded", ts: explicit,
			elems: []qe{
				rawEl(dicom.TagPatientName, "PN", []byte("Odd^Name")[:7]), // "Odd^Nam"
				rawEl(dicom.TagStudyInstanceUID, "UI", []byte(qStudy)),    // 25 characters
				rawEl(dicom.TagModality, "CS", []byte("DOC")),
				rawEl(dicom.TagStudyDescription, "LO", []byte("Chest")),
			},
			wantName: "Odd^Nam",
		},
		{
			name: "values padded with NUL instead of space", ts: explicit,
			elems: []qe{
				rawEl(dicom.TagPatientName, "PN", []byte("Nul^Pad\x00")),
				rawEl(dicom.TagPatientID, "LO", []byte("Q1\x00\x00")),
				rawEl(dicom.TagModality, "CS", []byte("OT\x00\x00")),
			},
			wantName: "Nul^Pad",
		},
		{
			name: "private creator and private sequence, implicit VR", ts: implicit,
			elems: []qe{creator, privSeq, str(0x00091020, "LO", "after the sequence")},
		},
		{
			name: "private creator and private sequence, explicit VR", ts: explicit,
			elems: []qe{creator, privSeq, str(0x00091020, "LO", "after the sequence")},
		},
		{
			// PS3.5 6.2.2: UN of undefined length is a sequence in Implicit VR LE, as
			// written by a node that did not know the attribute.
			name: "explicit UN of undefined length holding a sequence", ts: explicit,
			elems: []qe{creator, {0x00091010, func(b *qb) {
				b.hdr(0x00091010, "UN", undef)
				inner := &qb{explicit: false}
				inner.item(undef)
				inner.el(0x00091001, "", []byte("IMPLICIT"))
				inner.el(dicom.TagPatientName, "", []byte("Not^This "))
				inner.itemEnd()
				inner.seqEnd()
				b.Write(inner.Bytes())
			}}},
		},
		{
			name: "group length elements in the data set", ts: explicit,
			elems: []qe{
				rawEl(0x00080000, "UL", binary.LittleEndian.AppendUint32(nil, 999)), // wrong, as often
				rawEl(0x00100000, "UL", binary.LittleEndian.AppendUint32(nil, 36)),
				rawEl(0x00200000, "UL", binary.LittleEndian.AppendUint32(nil, 0)),
			},
		},
		{
			name: "group length elements, implicit VR", ts: implicit,
			elems: []qe{
				rawEl(0x00080000, "UL", binary.LittleEndian.AppendUint32(nil, 999)),
				rawEl(0x00100000, "UL", binary.LittleEndian.AppendUint32(nil, 36)),
			},
		},
		{
			name: "Data Set Trailing Padding after Pixel Data", ts: explicit,
			elems: append(image(4, 4),
				rawEl(dicom.TagPixelData, "OB", bytes.Repeat([]byte{7}, 16)),
				rawEl(0xFFFCFFFC, "OB", make([]byte, 200))),
		},
		{
			name: "Data Set Trailing Padding, implicit VR", ts: implicit,
			elems: append(image(4, 4),
				rawEl(dicom.TagPixelData, "", bytes.Repeat([]byte{7}, 16)),
				rawEl(0xFFFCFFFC, "", make([]byte, 64))),
		},
		{
			name: "private elements and a sequence after Pixel Data", ts: explicit,
			elems: append(image(2, 2),
				rawEl(dicom.TagPixelData, "OB", []byte{1, 2, 3, 4}),
				str(0x7FE10010, "LO", "VENDOR"),
				rawEl(0x7FE11010, "OB", []byte{9, 9}),
				digitalSignatures,
				rawEl(0xFFFCFFFC, "OB", make([]byte, 4))),
		},
		{
			name: "deflated, with a sequence after Pixel Data", ts: dicom.DeflatedExplicitVRLittleEndian,
			elems: append(image(16, 16), creator, privSeq,
				rawEl(dicom.TagPixelData, "OB", bytes.Repeat([]byte{1, 2, 3, 4}, 64)),
				digitalSignatures, rawEl(0xFFFCFFFC, "OB", make([]byte, 10))),
		},
		{
			// 3x3 8-bit: 9 bytes. PS3.5 8.1.1 wants even lengths, but refusing a real
			// image over one missing pad byte would lose it.
			name: "native 8-bit Pixel Data of odd length", ts: explicit,
			elems: append(image(3, 3), rawEl(dicom.TagPixelData, "OB", bytes.Repeat([]byte{5}, 9))),
		},
		{
			name: "native 8-bit Pixel Data of odd length, implicit VR", ts: implicit,
			elems: append(image(3, 3), rawEl(dicom.TagPixelData, "", bytes.Repeat([]byte{5}, 9))),
		},
		{
			name: "encapsulated, offset table and several fragments per frame", ts: dicom.JPEGBaseline8Bit,
			elems: append(image(8, 8), str(dicom.TagNumberOfFrames, "IS", "2"),
				encapsulated([][][]byte{
					{jpegish(10, 1), jpegish(4, 2), jpegish(6, 3)},
					{jpegish(20, 4), jpegish(2, 5)},
				}, false)),
		},
		{
			// The device speaks GB18030 but does not say so. With no site fallback the
			// reader takes bytes that are not UTF-8 as ISO 8859-1: the index holds
			// mojibake, but valid UTF-8, and the object is kept untouched for a later
			// re-index with the right fallback.
			name: "GB18030 name without Specific Character Set", ts: explicit,
			elems: []qe{
				{dicom.TagSpecificCharacterSet, nil},
				rawEl(dicom.TagPatientName, "PN", gb18030(t, "张伟")),
			},
			wantName: "ÕÅÎ°",
		},
		{
			// The same object at a site configured as pacsd's default (--fallback-charset
			// GB18030): the name is read as the device meant it.
			name: "GB18030 name without Specific Character Set, GB18030 site fallback", ts: explicit,
			fallback: "GB18030",
			elems: []qe{
				{dicom.TagSpecificCharacterSet, nil},
				rawEl(dicom.TagPatientName, "PN", gb18030(t, "张伟")),
			},
			wantName: "张伟",
		},
		{
			// Undeclared UTF-8 stays UTF-8 under a GB18030 fallback.
			name: "UTF-8 name without Specific Character Set, GB18030 site fallback", ts: explicit,
			fallback: "GB18030",
			elems: []qe{
				{dicom.TagSpecificCharacterSet, nil},
				rawEl(dicom.TagPatientName, "PN", []byte("Zhang^Wei=张^伟")),
			},
			wantName: "Zhang^Wei=张^伟",
		},
		{
			// An unknown term: the lenient decoder still reads valid UTF-8 as UTF-8.
			name: "unknown character set term", ts: explicit,
			elems: []qe{
				str(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 999"),
				rawEl(dicom.TagPatientName, "PN", []byte("张伟")),
			},
			wantName: "张伟",
		},
		{
			name: "misspelled ISO-IR 192", ts: explicit,
			elems: []qe{
				str(dicom.TagSpecificCharacterSet, "CS", "ISO-IR 192"),
				rawEl(dicom.TagPatientName, "PN", []byte("张伟")),
			},
			wantName: "张伟",
		},
		{
			// Spelled wrong and not UTF-8: only recognising the term decodes it.
			name: "misspelled GB 18030", ts: explicit,
			elems: []qe{
				str(dicom.TagSpecificCharacterSet, "CS", "gb 18030"),
				rawEl(dicom.TagPatientName, "PN", gb18030(t, "张伟")),
			},
			wantName: "张伟",
		},
		{
			// Declared UTF-8, sent GB18030: decoding must not fail; the bad bytes become
			// U+FFFD.
			name: "GB18030 bytes under ISO_IR 192", ts: explicit,
			elems:    []qe{rawEl(dicom.TagPatientName, "PN", gb18030(t, "张伟"))},
			wantName: "\uFFFDΰ", // D5 C5 is one invalid run; CE B0 happens to be U+03B0
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := quirkObject(t, tc.ts, merge(quirkBase(), tc.elems), tc.noMeta)
			if tc.mutate != nil {
				data = tc.mutate(data)
			}
			e := newEnv(t, func(c *store.Config) { c.FallbackCharset = tc.fallback })
			ctx := context.Background()
			inst, err := e.a.Put(ctx, bytes.NewReader(data), store.PutRequest{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			wantTS := tc.ts // for bare data sets, the syntax the reader guesses
			wantOffset := tc.wantOffset
			if !tc.noMeta {
				wantOffset += metaLength(t, tc.ts)
			}
			if inst.SOPInstanceUID != qSOP || inst.StudyInstanceUID != qStudy || inst.SeriesInstanceUID != qSeries ||
				inst.SOPClassUID != qClass || inst.TransferSyntaxUID != wantTS {
				t.Errorf("record %s %s %s %s %s, want %s %s %s %s %s", inst.StudyInstanceUID, inst.SeriesInstanceUID,
					inst.SOPInstanceUID, inst.SOPClassUID, inst.TransferSyntaxUID, qStudy, qSeries, qSOP, qClass, wantTS)
			}
			if inst.DatasetOffset != int64(wantOffset) {
				t.Errorf("DatasetOffset = %d, want %d", inst.DatasetOffset, wantOffset)
			}
			res, err := storetest.SearchDatasets(ctx, e.idx, store.Query{Level: store.LevelInstance,
				Matches: []store.Match{{Tag: dicom.TagSOPInstanceUID, Value: qSOP}}})
			if err != nil || len(res) != 1 {
				t.Fatalf("Search: %d results, %v", len(res), err)
			}
			wantName := "Quirk^Patient"
			if tc.wantName != "" {
				wantName = tc.wantName
			}
			got := res[0].String(dicom.TagPatientName)
			if got != wantName || !utf8.ValidString(got) {
				t.Errorf("indexed PatientName %q, want %q", got, wantName)
			}
			// A private or UN sequence must not leak its nested elements into the top
			// level, nor make the reader lose its place.
			if id := res[0].String(dicom.TagPatientID); id != "Q1" {
				t.Errorf("indexed PatientID %q, want Q1", id)
			}
			_, rc, err := e.a.Open(ctx, qSOP)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if b, err := io.ReadAll(rc); err != nil || !bytes.Equal(b, data) {
				t.Errorf("Open: %d bytes (%v), want the %d sent, unchanged", len(b), err, len(data))
			}
			if s := e.spoolFiles(t); len(s) != 0 {
				t.Errorf("spool files left: %q", s)
			}
		})
	}
}

// TestPutVendorQuirksRefused: objects no PACS can acknowledge honestly. Each is refused as
// ErrInvalid and leaves no blob, no index row and no spool file.
func TestPutVendorQuirksRefused(t *testing.T) {
	explicit, implicit := dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian
	withPixels := func(ts string, n int) []qe {
		vr := "OB"
		if ts == implicit {
			vr = ""
		}
		return append(image(16, uint16(n/16)), rawEl(dicom.TagPixelData, vr, bytes.Repeat([]byte{3}, n)))
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:len(b)-n] } }
	frames := [][][]byte{{jpegish(30, 1), jpegish(30, 2)}, {jpegish(30, 3)}}
	cases := []struct {
		name   string
		ts     string
		elems  []qe
		mutate func([]byte) []byte
	}{
		{name: "truncated inside native Pixel Data", ts: explicit, elems: withPixels(explicit, 256), mutate: cut(100)},
		{name: "truncated inside native Pixel Data, implicit VR", ts: implicit, elems: withPixels(implicit, 256), mutate: cut(1)},
		{name: "truncated inside a fragment", ts: dicom.JPEGBaseline8Bit, elems: append(image(8, 8), encapsulated(frames, false)), mutate: cut(20)},
		{name: "encapsulated without its sequence delimiter", ts: dicom.JPEGBaseline8Bit, elems: append(image(8, 8), encapsulated(frames, true))},
		{
			name: "deflated, truncated", ts: dicom.DeflatedExplicitVRLittleEndian,
			elems: withPixels(explicit, 4096), mutate: cut(8),
		},
		{
			// Noise does not compress, so half the file ends the deflate stream inside
			// Pixel Data, past what the header reader inflates.
			name: "deflated, cut in half", ts: dicom.DeflatedExplicitVRLittleEndian,
			elems:  append(image(64, 64), rawEl(dicom.TagPixelData, "OB", noise(64*64))),
			mutate: func(b []byte) []byte { return b[:len(b)/2] },
		},
		{
			name: "deflated, cut inside a sequence after Pixel Data", ts: dicom.DeflatedExplicitVRLittleEndian,
			elems: append(withPixels(explicit, 64), digitalSignatures),
			mutate: func(b []byte) []byte {
				// Re-deflate the data set without its last 6 bytes: a whole deflate
				// stream, a cut data set.
				off := metaLength(t, dicom.DeflatedExplicitVRLittleEndian)
				ds, err := io.ReadAll(flate.NewReader(bytes.NewReader(b[off:])))
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				out.Write(b[:off])
				zw, _ := flate.NewWriter(&out, flate.BestSpeed)
				zw.Write(ds[:len(ds)-6])
				zw.Close()
				return out.Bytes()
			},
		},
		{
			name: "cut inside a sequence after Pixel Data", ts: explicit,
			elems: append(withPixels(explicit, 64), digitalSignatures), mutate: cut(6),
		},
		{
			name: "cut inside a sequence after Pixel Data, implicit VR", ts: implicit,
			elems: append(withPixels(implicit, 64), digitalSignatures), mutate: cut(12),
		},
		{name: "truncated inside the Pixel Data header", ts: explicit, elems: withPixels(explicit, 256), mutate: cut(256 + 6)},
		{
			name: "element length past the end, in the header", ts: explicit,
			elems: []qe{{dicom.TagStudyDescription, func(b *qb) {
				b.hdr(dicom.TagStudyDescription, "LO", 0xFFF0)
				b.WriteString("Chest")
			}}},
		},
		{
			name: "element length past the end, after Pixel Data", ts: explicit,
			elems: append(withPixels(explicit, 32), qe{0xFFFCFFFC, func(b *qb) {
				b.hdr(0xFFFCFFFC, "OB", 1<<20)
				b.Write(make([]byte, 10))
			}}),
		},
		{
			name: "element length past the end, implicit VR", ts: implicit,
			elems: []qe{{dicom.TagStudyDescription, func(b *qb) {
				b.hdr(dicom.TagStudyDescription, "", 4000)
				b.WriteString("Chest")
			}}},
		},
		{name: "SOP Instance UID with letters", ts: explicit, elems: []qe{str(dicom.TagSOPInstanceUID, "UI", qSeries+".1a")}},
		{name: "SOP Instance UID with letters, implicit VR", ts: implicit, elems: []qe{str(dicom.TagSOPInstanceUID, "UI", "1.2.abc")}},
		{name: "missing Study Instance UID", ts: explicit, elems: []qe{{dicom.TagStudyInstanceUID, nil}}},
		{name: "empty Study Instance UID", ts: explicit, elems: []qe{rawEl(dicom.TagStudyInstanceUID, "UI", nil)}},
		{name: "missing Study Instance UID, bare data set", ts: implicit, elems: []qe{{dicom.TagStudyInstanceUID, nil}},
			mutate: func(b []byte) []byte { return b[metaLength(t, implicit):] }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := quirkObject(t, tc.ts, merge(quirkBase(), tc.elems), false)
			if tc.mutate != nil {
				data = tc.mutate(data)
			}
			e := newEnv(t)
			inst, err := e.a.Put(context.Background(), bytes.NewReader(data), store.PutRequest{})
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Put = %+v, %v; want ErrInvalid", inst, err)
			}
			if strings.Contains(err.Error(), "Quirk^Patient") {
				t.Errorf("error text carries the patient's name: %v", err)
			}
			e.assertEmpty(t, qSOP)
			if list, err := e.idx.Instances(context.Background(), qStudy, ""); (err != nil && !errors.Is(err, store.ErrNotFound)) || len(list) != 0 {
				t.Errorf("index lists %d instances of the study (%v)", len(list), err)
			}
		})
	}
}
