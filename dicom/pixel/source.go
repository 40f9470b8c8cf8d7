package pixel

import (
	"bufio"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"pacsd/dicom"
)

// The data set stream is the object's bytes after the File Meta Information, inflated for
// Deflated Explicit VR Little Endian (PS3.5 A.5). dicom.Element.Offset and
// dicom.Header.PixelDataOffset count in it, so everything here reads through an io.ReaderAt
// over that stream.

// datasetReader returns random access to the data set stream of the object in r.
func datasetReader(r io.ReaderAt, size int64, hdr *dicom.Header, ts dicom.TransferSyntax) io.ReaderAt {
	sec := io.NewSectionReader(r, hdr.DatasetOffset, size-hdr.DatasetOffset)
	if !ts.Deflated {
		return sec
	}
	return &inflatingReaderAt{src: sec}
}

// inflatingReaderAt gives io.ReaderAt over a deflate stream by inflating forward from the
// start. Reads that go forward (the frames of a native multi-frame object in order, which is
// how frames are read when transcoding or playing a cine) continue where the last one
// stopped; a read behind the current position starts again from the beginning. Nothing but
// a 64 KiB window is held in memory.
type inflatingReaderAt struct {
	src *io.SectionReader

	mu  sync.Mutex
	br  *bufio.Reader
	pos int64
}

func (z *inflatingReaderAt) reset() error {
	sec := io.NewSectionReader(z.src, 0, z.src.Size())
	raw := bufio.NewReaderSize(sec, 64<<10)
	b, _ := raw.Peek(2)
	var r io.Reader
	// PS3.5 A.5 says raw deflate (RFC 1951); some writers add a zlib header (RFC 1950),
	// which dicom.ReadPart10 accepts too.
	if len(b) == 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 {
		zr, err := zlib.NewReader(raw)
		if err != nil {
			return fmt.Errorf("%w: deflated data set: %v", ErrCorrupt, err)
		}
		r = zr
	} else {
		r = flate.NewReader(raw)
	}
	z.br = bufio.NewReaderSize(r, 64<<10)
	z.pos = 0
	return nil
}

func (z *inflatingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.br == nil || off < z.pos {
		if err := z.reset(); err != nil {
			return 0, err
		}
	}
	for z.pos < off {
		n, err := z.br.Discard(int(min(off-z.pos, 1<<30)))
		z.pos += int64(n)
		if err != nil {
			return 0, inflateErr(err)
		}
	}
	n, err := io.ReadFull(z.br, p)
	z.pos += int64(n)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, inflateErr(err)
}

func inflateErr(err error) error {
	var ce flate.CorruptInputError
	if errors.As(err, &ce) || errors.Is(err, zlib.ErrChecksum) {
		return fmt.Errorf("%w: deflated data set: %v", ErrCorrupt, err)
	}
	return err
}

// readFull reads len(p) bytes at off; a short read is corrupt data (the header promised
// more than the object holds).
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: object ends at %d bytes into the data set, %d bytes short", ErrCorrupt, off+int64(n), len(p)-n)
	}
	return fmt.Errorf("read %d bytes at data set offset %d: %w", len(p), off, err)
}

// maxLoadedValue bounds an element value read for the header's sake (LUT data: at most
// 65536 16-bit entries, plus slack for sloppy writers).
const maxLoadedValue = 1 << 20

// valueLoader returns a loader that reads element values from the data set stream,
// swapping 16-bit words of a big-endian syntax to little-endian.
func valueLoader(ds io.ReaderAt, bigEndian bool) loader {
	return func(e *dicom.Element) ([]byte, error) {
		var raw []byte
		switch {
		case e.Numbers != nil:
			// US/SS values already decoded by the header reader.
			raw = make([]byte, 2*len(e.Numbers))
			for i, v := range e.Numbers {
				binary.LittleEndian.PutUint16(raw[2*i:], uint16(int32(v)))
			}
			return raw, nil
		case e.Bytes != nil:
			raw = append([]byte(nil), e.Bytes...)
		case e.Length == 0:
			return nil, nil
		default:
			if e.Length > maxLoadedValue {
				return nil, fmt.Errorf("%w: %s value of %d bytes", ErrTooLarge, e.Tag, e.Length)
			}
			raw = make([]byte, e.Length)
			if err := readFull(ds, raw, e.Offset); err != nil {
				return nil, fmt.Errorf("read %s: %w", e.Tag, err)
			}
			if e.VR == "US" || e.VR == "SS" {
				// A value the header did not load as numbers: decode in the file's order.
				if bigEndian {
					swap16(raw)
				}
				return raw, nil
			}
		}
		if bigEndian && (e.VR == "OW" || e.VR == "US" || e.VR == "SS") {
			swap16(raw)
		}
		return raw, nil
	}
}

func swap16(b []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		b[i], b[i+1] = b[i+1], b[i]
	}
}
