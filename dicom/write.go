package dicom

import "io"

// FileMeta is the content of the File Meta Information pacsd writes (PS3.10 7.1).
type FileMeta struct {
	SOPClassUID        string
	SOPInstanceUID     string
	TransferSyntaxUID  string
	SourceAETitle      string // optional, (0002,0016)
}

// WriteFileMeta writes the 128-byte preamble, "DICM" and the File Meta Information group
// (Explicit VR Little Endian, with its group length) that turns a bare data set received
// over DIMSE into a Part-10 stream. It returns the bytes written.
func WriteFileMeta(w io.Writer, m FileMeta) (int64, error) {
	panic("TODO")
}

// Encoder writes data elements in one transfer syntax (Implicit/Explicit VR LE, Explicit VR
// BE; not deflated or encapsulated: wrap the writer or use WriteEncapsulatedPixelData).
// Values are given already encoded (text in the target character set, see EncodeText);
// odd lengths are padded as PS3.5 7.1 requires (space for text VRs, NUL for UI and binary).
type Encoder struct {
	w   io.Writer
	ts  TransferSyntax
	err error
}

// NewEncoder returns an encoder for transfer syntax ts.
func NewEncoder(w io.Writer, ts string) (*Encoder, error) {
	panic("TODO")
}
