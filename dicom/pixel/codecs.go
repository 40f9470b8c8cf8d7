package pixel

import (
	"fmt"

	"pacsd/dicom"
)

// codec is the decoder an encapsulated transfer syntax needs.
type codec int

const (
	codecNone   codec = iota // stored and served as sent, never decoded
	codecNative              // fragments hold native frame bytes
	codecRLE
	codecJPEG
	codecJPEGLS
	codecJ2K
)

// codecs maps each encapsulated transfer syntax the package decodes to its decoder. Every
// other encapsulated syntax pacsd accepts (video, JPEG XL, Deflated Image Frame Compression,
// the retired arithmetic-coded and hierarchical JPEG processes) is refused by Open with
// ErrUnsupported.
var codecs = map[string]codec{
	dicom.RLELossless:        codecRLE,
	dicom.JPEGBaseline8Bit:   codecJPEG,
	dicom.JPEGExtended12Bit:  codecJPEG,
	dicom.JPEGLossless:       codecJPEG,
	dicom.JPEGLosslessSV1:    codecJPEG,
	dicom.JPEGLSLossless:     codecJPEGLS,
	dicom.JPEGLSNearLossless: codecJPEGLS,
	dicom.JPEG2000Lossless:   codecJ2K,
	dicom.JPEG2000:           codecJ2K,
	// Part 2 codestreams decode when they use only what OpenJPEG implements (Part 1 is a
	// subset); its array-based multiple component transforms are refused (internal/j2k).
	dicom.JPEG2000MCLossless: codecJ2K,
	dicom.JPEG2000MC:         codecJ2K,
	// ISO/IEC 15444-15 HT block coding: OpenJPEG 2.5 decodes it (not encodes).
	dicom.HTJ2KLossless:     codecJ2K,
	dicom.HTJ2KLosslessRPCL: codecJ2K,
	dicom.HTJ2K:             codecJ2K,
	dicom.EncapsulatedUncompressedExplicitVRLittleEndian: codecNative,
	// Retired progressive DCT processes (PS3.5 A.4.1), Huffman coded: spectral selection
	// (6 & 8) and full progression (10 & 12), as DCMTK's dcmcjpeg +es and +ep write them.
	// Their arithmetic-coded siblings (.52 .54 .56 .58) and the hierarchical processes
	// (.59-.66) are stored and served as sent, not decoded.
	dicom.JPEGSpectralSelectionNonHierarchical68: codecJPEG,
	dicom.JPEGFullProgressionNonHierarchical1012: codecJPEG,
}

// Decodes reports whether Frame can decode pixel data stored in transfer syntax uid: every
// native syntax, and the encapsulated ones the package documentation lists. Objects in the
// other syntaxes pacsd accepts are archived and served as stored, never decoded.
func Decodes(uid string) bool {
	ts, ok := dicom.LookupTransferSyntax(uid)
	if !ok {
		return false
	}
	return !ts.Encapsulated || codecs[uid] != codecNone
}

// nativeLayout reports whether frames of ts are native sample bytes: native syntaxes, and
// Encapsulated Uncompressed, whose fragments carry the same bytes.
func nativeLayout(ts dicom.TransferSyntax) bool {
	return !ts.Encapsulated || codecs[ts.UID] == codecNative
}

// refuseUndecodable stops Open before it reads anything of an object it could never decode.
// A video's fragments are pieces of one stream, not frames (PS3.5 8.2.5-8.2.8), so locating
// frames would not even be meaningful.
func refuseUndecodable(ts dicom.TransferSyntax) error {
	switch {
	case !ts.Encapsulated || codecs[ts.UID] != codecNone:
		return nil
	case ts.Video:
		return fmt.Errorf("%w: %s (%s) is one video stream for all frames; it is kept and served as sent, not decoded", ErrUnsupported, ts.Name, ts.UID)
	default:
		return fmt.Errorf("%w: no decoder for %s (%s); the object is kept and served as sent", ErrUnsupported, ts.Name, ts.UID)
	}
}
