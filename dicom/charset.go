package dicom

// Specific Character Set (0008,0005) handling, PS3.5 6.1 and Annex K / PS3.3 C.12.1.1.2.
// Decoding uses golang.org/x/text encodings, not hand-written tables.

// Decoder turns text values encoded under a Specific Character Set into UTF-8.
// It understands single-byte sets (ISO_IR 6/100/101/109/110/144/127/126/138/148/13/166),
// ISO_IR 192 (UTF-8), GB18030, GBK, and ISO 2022 code extensions (ISO 2022 IR 6, IR 100,
// IR 58, IR 87, IR 159, IR 149, ...) with escape sequences switching G0/G1 mid-value, and
// multi-valued charsets. PN values reset to the default at each component-group '='
// and '^' delimiter as PS3.5 6.1.2.5.3 requires.
type Decoder struct {
	charsets []string
}

// NewDecoder builds a decoder for the values of (0008,0005). An empty list means the
// default repertoire (ISO_IR 6); unknown terms fall back to a lenient decoder (UTF-8 if the
// bytes are valid UTF-8, else ISO-8859-1) and are reported in the error, which callers may
// log and ignore.
func NewDecoder(charsets []string) (*Decoder, error) {
	panic("TODO")
}

// Decode converts one raw value (all its '\'-separated values at once) of the given VR to
// UTF-8. Only SH, LO, ST, LT, UT, UC, PN (and, leniently, other text VRs) are affected by
// the character set; the rest are ASCII by definition.
func (d *Decoder) Decode(raw []byte, vr string) string {
	panic("TODO")
}

// EncodeText converts UTF-8 text to the bytes of the given character set (used when writing
// Part-10 objects). For ISO 2022 sets it emits the escape sequences PS3.5 6.1.2.5 requires.
func EncodeText(s string, charsets []string, vr string) ([]byte, error) {
	panic("TODO")
}
