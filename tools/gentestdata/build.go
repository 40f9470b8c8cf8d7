package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strconv"

	"pacsd/dicom"
)

// elem is one data element to write: a raw value, a sequence, or encapsulated frames.
type elem struct {
	tag    dicom.Tag
	vr     string
	value  []byte
	items  []*builder // vr == "SQ"
	frames [][]byte   // encapsulated Pixel Data
	stream io.Reader  // Pixel Data streamed from a generator (bench files); len(value) unused
	length uint32     // of stream
}

// builder collects a data set. Text goes through encodeText with the data set's Specific
// Character Set; the UTF-8 source of each text value is kept so that expected.json records
// what a correct decoder must produce, not what some decoder did produce.
type builder struct {
	charsets []string
	elems    []elem
	utf8     map[dicom.Tag]string
	err      error
}

func newBuilder(charsets ...string) *builder {
	b := &builder{charsets: charsets, utf8: map[dicom.Tag]string{}}
	if len(charsets) > 0 {
		v := charsets[0]
		for _, c := range charsets[1:] {
			v += `\` + c
		}
		b.str(dicom.TagSpecificCharacterSet, "CS", v)
	}
	return b
}

// item returns a builder for a sequence item sharing this data set's character set
// (PS3.5 7.5.1: items inherit Specific Character Set unless they carry their own).
func (b *builder) item() *builder {
	return &builder{charsets: b.charsets, utf8: map[dicom.Tag]string{}}
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *builder) add(e elem) { b.elems = append(b.elems, e) }

// str adds an ASCII-only value (CS, DA, TM, UI, IS, DS, AS, AE or ASCII text).
func (b *builder) str(tag dicom.Tag, vr, s string) {
	v, err := ascii(s)
	if err != nil {
		b.fail(fmt.Errorf("%s: %w", tag, err))
		return
	}
	b.utf8[tag] = s
	b.add(elem{tag: tag, vr: vr, value: v})
}

// text adds a value encoded in the data set's character set.
func (b *builder) text(tag dicom.Tag, vr, s string) {
	v, err := encodeText(b.charsets, vr, s)
	if err != nil {
		b.fail(fmt.Errorf("%s: %w", tag, err))
		return
	}
	b.utf8[tag] = s
	b.add(elem{tag: tag, vr: vr, value: v})
}

func (b *builder) u16(tag dicom.Tag, vr string, v ...uint16) {
	p := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(p[2*i:], x)
	}
	if len(v) == 1 {
		b.utf8[tag] = strconv.Itoa(int(v[0]))
	}
	b.add(elem{tag: tag, vr: vr, value: p})
}

func (b *builder) u32(tag dicom.Tag, vr string, v ...uint32) {
	p := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(p[4*i:], x)
	}
	b.add(elem{tag: tag, vr: vr, value: p})
}

func (b *builder) bytes(tag dicom.Tag, vr string, v []byte) {
	b.add(elem{tag: tag, vr: vr, value: v})
}

func (b *builder) seq(tag dicom.Tag, items ...*builder) {
	for _, it := range items {
		if it.err != nil {
			b.fail(fmt.Errorf("%s item: %w", tag, it.err))
		}
	}
	b.add(elem{tag: tag, vr: "SQ", items: items})
}

// code adds a Code Sequence Macro item (PS3.3 Table 8.8-1) as the single item of tag.
func (b *builder) code(tag dicom.Tag, value, scheme, meaning string) {
	it := b.item()
	it.str(0x00080100, "SH", value)
	it.str(0x00080102, "SH", scheme)
	it.text(0x00080104, "LO", meaning)
	b.seq(tag, it)
}

// write encodes the data set with enc in ascending tag order.
func (b *builder) write(enc *dicom.Encoder) error {
	if b.err != nil {
		return b.err
	}
	els := append([]elem(nil), b.elems...)
	sort.SliceStable(els, func(i, j int) bool { return els[i].tag < els[j].tag })
	for _, e := range els {
		switch {
		case e.vr == "SQ":
			enc.BeginSequence(e.tag)
			for _, it := range e.items {
				enc.BeginItem()
				if err := it.write(enc); err != nil {
					return err
				}
				enc.EndItem()
			}
			enc.EndSequence()
		case e.frames != nil:
			enc.WriteEncapsulatedPixelData(e.frames)
		case e.stream != nil:
			enc.WriteElementFrom(e.tag, e.vr, e.length, e.stream)
		default:
			enc.WriteElement(e.tag, e.vr, e.value)
		}
		if err := enc.Err(); err != nil {
			return err
		}
	}
	return nil
}

// part10 writes a complete Part-10 stream: File Meta Information, then the data set in ts.
func part10(w io.Writer, sopClass, sopInstance, ts string, b *builder) error {
	if _, err := dicom.WriteFileMeta(w, dicom.FileMeta{
		SOPClassUID:       sopClass,
		SOPInstanceUID:    sopInstance,
		TransferSyntaxUID: ts,
		SourceAETitle:     "PACSD_TESTDATA",
	}); err != nil {
		return err
	}
	enc, err := dicom.NewEncoder(w, ts)
	if err != nil {
		return err
	}
	if err := b.write(enc); err != nil {
		return err
	}
	return enc.Close()
}

// part10Bytes is part10 into memory.
func part10Bytes(sopClass, sopInstance, ts string, b *builder) ([]byte, error) {
	var buf bytes.Buffer
	err := part10(&buf, sopClass, sopInstance, ts, b)
	return buf.Bytes(), err
}
