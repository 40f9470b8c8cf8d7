package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"pacsd/dicom"
)

// errTruncated marks an object whose stream ended inside an element after the header: an
// acknowledged object must be whole, so Put refuses it as ErrInvalid.
var errTruncated = errors.New("object truncated after the header")

// errRecheck: readNative drained the stream without seeing its structure.
var errRecheck = errors.New("structure after the header not visible to readTail")

// readTail reads what follows the header (normally Pixel Data and perhaps trailing
// elements; the caller's TeeReader spools it) and checks that the stream ends on an element
// boundary: every top-level
// element's declared length is present (PS3.5 7.1), and encapsulated Pixel Data (undefined
// length, PS3.5 A.4) is a run of items closed by a Sequence Delimitation Item. Deflated data
// sets, and anything after an undefined-length element other than Pixel Data, are read
// without a look at their structure, which is not visible without a full parser: readTail
// then reports recheck, and the caller runs checkSpooled on the spooled copy before it
// acknowledges anything. A syntax the table does not know is read unchecked.
func readTail(src io.Reader, ts string) (recheck bool, err error) {
	syntax, ok := dicom.LookupTransferSyntax(ts)
	if !ok || syntax.Deflated {
		_, err := io.Copy(io.Discard, src)
		return ok, err
	}
	err = readNative(src, syntax)
	if errors.Is(err, errRecheck) {
		return true, nil
	}
	return false, err
}

// readNative is readTail for the non-deflated syntaxes. It returns errRecheck after
// draining src when an undefined-length element other than Pixel Data hides the structure.
func readNative(src io.Reader, syntax dicom.TransferSyntax) error {
	var order binary.ByteOrder = binary.LittleEndian
	if syntax.BigEndian {
		order = binary.BigEndian
	}
	hdr := make([]byte, 12)
	for {
		// Tag: 4 bytes. EOF here is the clean end of the object.
		_, err := io.ReadFull(src, hdr[:4])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return tailErr(err)
		}
		tag := dicom.NewTag(order.Uint16(hdr[0:2]), order.Uint16(hdr[2:4]))
		var length uint32
		switch {
		case !syntax.ExplicitVR || tag.Group() == 0xFFFE:
			if _, err := io.ReadFull(src, hdr[4:8]); err != nil {
				return tailErr(err)
			}
			length = order.Uint32(hdr[4:8])
		default:
			if _, err := io.ReadFull(src, hdr[4:8]); err != nil {
				return tailErr(err)
			}
			switch string(hdr[4:6]) {
			case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
				if _, err := io.ReadFull(src, hdr[8:12]); err != nil {
					return tailErr(err)
				}
				length = order.Uint32(hdr[8:12])
			default:
				length = uint32(order.Uint16(hdr[6:8]))
			}
		}
		if length != 0xFFFFFFFF {
			if err := skip(src, int64(length)); err != nil {
				return err
			}
			continue
		}
		if tag != dicom.TagPixelData {
			if _, err := io.Copy(io.Discard, src); err != nil {
				return err
			}
			return errRecheck
		}
		if err := readFragments(src, order); err != nil {
			return err
		}
	}
}

// readFragments reads the items of encapsulated Pixel Data up to and including the
// Sequence Delimitation Item (PS3.5 A.4: item tags and lengths, always defined).
func readFragments(src io.Reader, order binary.ByteOrder) error {
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(src, hdr); err != nil {
			return tailErr(err)
		}
		tag := dicom.NewTag(order.Uint16(hdr[0:2]), order.Uint16(hdr[2:4]))
		length := order.Uint32(hdr[4:8])
		switch tag {
		case dicom.TagSequenceDelimitationItem:
			return nil
		case dicom.TagItem:
			if length == 0xFFFFFFFF {
				return fmt.Errorf("pixel data fragment of undefined length: %w", ErrInvalid)
			}
			if err := skip(src, int64(length)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s inside encapsulated pixel data: %w", tag, ErrInvalid)
		}
	}
}

func skip(src io.Reader, n int64) error {
	if _, err := io.CopyN(io.Discard, src, n); err != nil {
		return tailErr(err)
	}
	return nil
}

// tailErr turns an early end of stream into errTruncated; other errors (the peer's, the
// size limit's) pass as they are.
func tailErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", errTruncated, ErrInvalid)
	}
	return err
}

// checkSpooled parses the whole spooled Part-10 object, Pixel Data and what follows it
// included (values over the reader's limit are skipped, not loaded), so that an object whose
// tail readTail could not check (deflated, or with a sequence after Pixel Data) is refused
// when it ends inside an element or its deflate stream ends early. Errors for bad bytes
// wrap ErrInvalid; others are the spool file's I/O errors.
func checkSpooled(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = dicom.ReadPart10(bufio.NewReaderSize(f, 64<<10), dicom.ReadOptions{KeepPixelData: true})
	if errors.Is(err, dicom.ErrMalformed) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}
