package store

import (
	"bufio"
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
	for {
		// EOF before a tag is the clean end of the object.
		h, err := dicom.ReadElementHeader(src, syntax)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return tailErr(err)
		}
		if h.Length != dicom.UndefinedLength {
			if err := skip(src, int64(h.Length)); err != nil {
				return err
			}
			continue
		}
		if h.Tag != dicom.TagPixelData {
			if _, err := io.Copy(io.Discard, src); err != nil {
				return err
			}
			return errRecheck
		}
		if err := readFragments(src, syntax); err != nil {
			return err
		}
	}
}

// readFragments reads the items of encapsulated Pixel Data up to and including the
// Sequence Delimitation Item (PS3.5 A.4: item tags and lengths, always defined).
func readFragments(src io.Reader, syntax dicom.TransferSyntax) error {
	for {
		h, err := dicom.ReadElementHeader(src, syntax)
		if err != nil {
			return tailErr(err)
		}
		switch h.Tag {
		case dicom.TagSequenceDelimitationItem:
			return nil
		case dicom.TagItem:
			if h.Length == dicom.UndefinedLength {
				return fmt.Errorf("pixel data fragment of undefined length: %w", ErrInvalid)
			}
			if err := skip(src, int64(h.Length)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s inside encapsulated pixel data: %w", h.Tag, ErrInvalid)
		}
	}
}

func skip(src io.Reader, n int64) error {
	if _, err := io.CopyN(io.Discard, src, n); err != nil {
		return tailErr(err)
	}
	return nil
}

// tailErr turns an early end of stream into errTruncated, and a header that is not one
// (bad VR bytes) into ErrInvalid; other errors (the peer's, the size limit's) pass as they
// are.
func tailErr(err error) error {
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", errTruncated, ErrInvalid)
	case errors.Is(err, dicom.ErrMalformed):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
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
