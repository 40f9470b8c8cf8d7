package pixel

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"pacsd/dicom"
)

// Tags of the Image Pixel, Modality LUT, VOI LUT and Palette Color modules (PS3.3 C.7.6.3,
// C.11.1, C.11.2, C.7.9) that the pipeline reads.
const (
	tagSamplesPerPixel             dicom.Tag = 0x00280002
	tagPhotometricInterpretation   dicom.Tag = 0x00280004
	tagPlanarConfiguration         dicom.Tag = 0x00280006
	tagNumberOfFrames              dicom.Tag = 0x00280008
	tagRows                        dicom.Tag = 0x00280010
	tagColumns                     dicom.Tag = 0x00280011
	tagBitsAllocated               dicom.Tag = 0x00280100
	tagBitsStored                  dicom.Tag = 0x00280101
	tagHighBit                     dicom.Tag = 0x00280102
	tagPixelRepresentation         dicom.Tag = 0x00280103
	tagWindowCenter                dicom.Tag = 0x00281050
	tagWindowWidth                 dicom.Tag = 0x00281051
	tagRescaleIntercept            dicom.Tag = 0x00281052
	tagRescaleSlope                dicom.Tag = 0x00281053
	tagWindowExplanation           dicom.Tag = 0x00281055
	tagVOILUTFunction              dicom.Tag = 0x00281056
	tagRedPaletteDescriptor        dicom.Tag = 0x00281101
	tagGreenPaletteDescriptor      dicom.Tag = 0x00281102
	tagBluePaletteDescriptor       dicom.Tag = 0x00281103
	tagRedPaletteData              dicom.Tag = 0x00281201
	tagGreenPaletteData            dicom.Tag = 0x00281202
	tagBluePaletteData             dicom.Tag = 0x00281203
	tagSegmentedRedPalette         dicom.Tag = 0x00281221
	tagLossyImageCompression       dicom.Tag = 0x00282110
	tagLossyImageCompressionRatio  dicom.Tag = 0x00282112
	tagLossyImageCompressionMethod dicom.Tag = 0x00282114
	tagModalityLUTSequence         dicom.Tag = 0x00283000
	tagLUTDescriptor               dicom.Tag = 0x00283002
	tagLUTExplanation              dicom.Tag = 0x00283003
	tagLUTData                     dicom.Tag = 0x00283006
	tagVOILUTSequence              dicom.Tag = 0x00283010
	tagExtendedOffsetTable         dicom.Tag = 0x7FE00001
	tagExtendedOffsetTableLength   dicom.Tag = 0x7FE00002
)

// Bounds on what a header may ask the pipeline to allocate.
const (
	// MaxFrameBytes bounds one decoded frame (samples at their allocated size).
	MaxFrameBytes = 1 << 30
	maxFrames     = 1 << 20
	maxLUTEntries = 65536
)

// frameLimit is MaxFrameBytes; fuzz tests lower it to keep their workers small.
var frameLimit int64 = MaxFrameBytes

// Photometric Interpretation values (PS3.3 C.7.6.3.1.2).
const (
	Monochrome1   = "MONOCHROME1"
	Monochrome2   = "MONOCHROME2"
	PaletteColor  = "PALETTE COLOR"
	RGB           = "RGB"
	YBRFull       = "YBR_FULL"
	YBRFull422    = "YBR_FULL_422"
	YBRPartial422 = "YBR_PARTIAL_422"
	YBRPartial420 = "YBR_PARTIAL_420"
	YBRICT        = "YBR_ICT"
	YBRRCT        = "YBR_RCT"
)

// Info is what the header says about the pixels and how to display them.
type Info struct {
	TransferSyntax      string
	Rows, Columns       int
	NumberOfFrames      int
	SamplesPerPixel     int
	BitsAllocated       int
	BitsStored          int
	HighBit             int
	Signed              bool   // Pixel Representation 1 (two's complement)
	Photometric         string // as stored
	PlanarConfiguration int    // 0 pixel-interleaved, 1 colour-by-plane (native only)
	Lossy               bool   // the transfer syntax is lossy or Lossy Image Compression is "01"

	// Modality LUT (PS3.3 C.11.1): Rescale Slope/Intercept (1 and 0 when absent), or a
	// Modality LUT Sequence, which then replaces them.
	RescaleSlope, RescaleIntercept float64
	ModalityLUT                    *LUT

	// VOI LUT (PS3.3 C.11.2): windows in file order, the VOI LUT Function (LINEAR when
	// absent) and the VOI LUT Sequence's tables.
	Windows        []Window
	VOILUTFunction string
	VOILUTs        []*LUT

	// Palette holds the Palette Color LUTs (PS3.3 C.7.6.3.1.5) for PALETTE COLOR images.
	Palette *Palette
}

// Window is one VOI window (PS3.3 C.11.2.1.2): Center and Width in modality units.
type Window struct {
	Center, Width float64
	Explanation   string
}

// LUT is a lookup table (PS3.3 C.11.1.1.1): input values FirstMapped ..
// FirstMapped+len(Data)-1 map to Data; inputs below or above clamp to the first or last
// entry. Bits is the number of bits of each entry.
type LUT struct {
	FirstMapped int
	Bits        int
	Data        []uint16
	Explanation string
}

// Palette holds the red, green and blue Palette Color LUTs.
type Palette struct {
	Red, Green, Blue *LUT
}

func (i Info) frameSamples() int { return i.Rows * i.Columns * i.SamplesPerPixel }

// bytesPerSample of decoded frames: 1 for 8-bit, 2 for 16-bit.
func (i Info) bytesPerSample() int { return i.BitsAllocated / 8 }

// nativeFrameBytes is the size of one frame as stored in a native syntax. YBR_FULL_422 keeps
// two luminance and one pair of chrominance samples per two pixels (PS3.3 C.7.6.3.1.2).
func (i Info) nativeFrameBytes() int64 {
	n := int64(i.Rows) * int64(i.Columns) * int64(i.SamplesPerPixel) * int64(i.bytesPerSample())
	if i.Photometric == YBRFull422 || i.Photometric == YBRPartial422 {
		n = n * 2 / 3
	}
	return n
}

func isMono(pi string) bool { return pi == Monochrome1 || pi == Monochrome2 }

// loader returns the bytes of an element whose value the header may not have loaded
// (LUT data above ReadOptions.MaxValueLength), little-endian.
type loader func(e *dicom.Element) ([]byte, error)

func intOf(ds *dicom.Dataset, t dicom.Tag, def int) int {
	if v, ok := ds.Int(t); ok {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return -1
		}
		return int(v)
	}
	return def
}

// parseInfo reads and checks the pixel description of a data set.
func parseInfo(ds *dicom.Dataset, ts dicom.TransferSyntax, load loader) (Info, error) {
	in := Info{
		TransferSyntax:      ts.UID,
		Rows:                intOf(ds, tagRows, 0),
		Columns:             intOf(ds, tagColumns, 0),
		NumberOfFrames:      intOf(ds, tagNumberOfFrames, 1),
		SamplesPerPixel:     intOf(ds, tagSamplesPerPixel, 1),
		BitsAllocated:       intOf(ds, tagBitsAllocated, 0),
		Photometric:         strings.ToUpper(strings.TrimSpace(ds.String(tagPhotometricInterpretation))),
		PlanarConfiguration: intOf(ds, tagPlanarConfiguration, 0),
		Signed:              intOf(ds, tagPixelRepresentation, 0) == 1,
		Lossy:               ts.Lossy || ds.String(tagLossyImageCompression) == "01",
		RescaleSlope:        1,
		VOILUTFunction:      strings.ToUpper(strings.TrimSpace(ds.String(tagVOILUTFunction))),
	}
	in.BitsStored = intOf(ds, tagBitsStored, in.BitsAllocated)
	in.HighBit = intOf(ds, tagHighBit, in.BitsStored-1)
	if in.NumberOfFrames < 1 {
		// Absent, empty or 0: one frame, as every reader treats it.
		in.NumberOfFrames = 1
	}
	if in.Photometric == "" {
		// Type 1, but ACR-NEMA era files omit it; the only sensible reading.
		in.Photometric = Monochrome2
		if in.SamplesPerPixel == 3 {
			in.Photometric = RGB
		}
	}
	switch {
	case in.Rows < 1 || in.Rows > 65535 || in.Columns < 1 || in.Columns > 65535:
		return in, fmt.Errorf("%w: image of %d x %d pixels", ErrCorrupt, in.Columns, in.Rows)
	case in.BitsAllocated != 8 && in.BitsAllocated != 16:
		return in, fmt.Errorf("%w: Bits Allocated %d (8 and 16 are supported)", ErrUnsupported, in.BitsAllocated)
	case in.BitsStored < 1 || in.BitsStored > in.BitsAllocated:
		return in, fmt.Errorf("%w: Bits Stored %d with Bits Allocated %d", ErrCorrupt, in.BitsStored, in.BitsAllocated)
	case in.HighBit < in.BitsStored-1 || in.HighBit >= in.BitsAllocated:
		return in, fmt.Errorf("%w: High Bit %d with Bits Stored %d, Bits Allocated %d", ErrCorrupt, in.HighBit, in.BitsStored, in.BitsAllocated)
	case in.NumberOfFrames > maxFrames:
		return in, fmt.Errorf("%w: %d frames (at most %d)", ErrTooLarge, in.NumberOfFrames, maxFrames)
	case in.PlanarConfiguration != 0 && in.PlanarConfiguration != 1:
		return in, fmt.Errorf("%w: Planar Configuration %d", ErrCorrupt, in.PlanarConfiguration)
	}
	switch in.Photometric {
	case Monochrome1, Monochrome2, PaletteColor:
		if in.SamplesPerPixel != 1 {
			return in, fmt.Errorf("%w: %s with %d samples per pixel", ErrCorrupt, in.Photometric, in.SamplesPerPixel)
		}
	case RGB, YBRFull, YBRFull422, YBRPartial422, YBRPartial420, YBRICT, YBRRCT:
		if in.SamplesPerPixel != 3 {
			return in, fmt.Errorf("%w: %s with %d samples per pixel", ErrCorrupt, in.Photometric, in.SamplesPerPixel)
		}
	default:
		return in, fmt.Errorf("%w: Photometric Interpretation %q", ErrUnsupported, in.Photometric)
	}
	if (in.Photometric == YBRFull422 || in.Photometric == YBRPartial422) && nativeLayout(ts) && in.Columns%2 != 0 {
		return in, fmt.Errorf("%w: native %s with an odd number of columns", ErrCorrupt, in.Photometric)
	}
	if n := int64(in.frameSamples()) * int64(in.bytesPerSample()); n > frameLimit {
		return in, fmt.Errorf("%w: one frame would take %d bytes (at most %d)", ErrTooLarge, n, frameLimit)
	}

	if v, ok := ds.Float(tagRescaleSlope); ok && v != 0 {
		in.RescaleSlope = v
	}
	if v, ok := ds.Float(tagRescaleIntercept); ok {
		in.RescaleIntercept = v
	}
	centers, widths := floats(ds, tagWindowCenter), floats(ds, tagWindowWidth)
	expl := ds.Strings(tagWindowExplanation)
	for k := 0; k < len(centers) && k < len(widths); k++ {
		if math.IsNaN(centers[k]) || math.IsNaN(widths[k]) || widths[k] <= 0 {
			continue // an unusable window; PS3.3 C.11.2.1.2 requires Width > 0 (>= 1 for LINEAR)
		}
		w := Window{Center: centers[k], Width: widths[k]}
		if k < len(expl) {
			w.Explanation = expl[k]
		}
		in.Windows = append(in.Windows, w)
	}
	switch in.VOILUTFunction {
	case "", "LINEAR":
		in.VOILUTFunction = "LINEAR"
	case "LINEAR_EXACT", "SIGMOID":
	default:
		in.VOILUTFunction = "LINEAR" // PS3.3 C.11.2.1.3: unknown values are not defined; use the default
	}

	if !isMono(in.Photometric) && in.Photometric != PaletteColor {
		return in, nil
	}
	if e := ds.Get(tagModalityLUTSequence); e != nil && len(e.Items) > 0 && isMono(in.Photometric) {
		lut, err := parseLUTItem(e.Items[0], in.Signed, load)
		if err != nil {
			return in, fmt.Errorf("modality LUT: %w", err)
		}
		in.ModalityLUT = lut
	}
	if e := ds.Get(tagVOILUTSequence); e != nil && isMono(in.Photometric) {
		for k, item := range e.Items {
			lut, err := parseLUTItem(item, in.Signed || in.RescaleIntercept < 0, load)
			if err != nil {
				return in, fmt.Errorf("VOI LUT %d: %w", k+1, err)
			}
			in.VOILUTs = append(in.VOILUTs, lut)
		}
	}
	if in.Photometric == PaletteColor {
		p, err := parsePalette(ds, load)
		if err != nil {
			return in, fmt.Errorf("palette: %w", err)
		}
		in.Palette = p
	}
	return in, nil
}

// floats parses every value of a DS attribute; unparsable values become NaN so that the
// positions of multi-valued windows stay paired.
func floats(ds *dicom.Dataset, t dicom.Tag) []float64 {
	var out []float64
	for _, s := range ds.Strings(t) {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsInf(v, 0) {
			v = math.NaN()
		}
		out = append(out, v)
	}
	if e := ds.Get(t); e != nil && len(e.Numbers) > 0 {
		out = append(out, e.Numbers...)
	}
	return out
}

// descriptor reads an LUT descriptor (PS3.3 C.11.1.1.1): number of entries (0 means 65536),
// first mapped input value, and bits per entry.
func descriptor(e *dicom.Element, signedInput bool) (entries, first, bits int, err error) {
	if e == nil || len(e.Numbers) < 3 {
		return 0, 0, 0, fmt.Errorf("%w: LUT descriptor missing or not three values", ErrCorrupt)
	}
	entries, first, bits = int(e.Numbers[0]), int(e.Numbers[1]), int(e.Numbers[2])
	if entries == 0 {
		entries = 65536
	}
	if entries < 0 || entries > maxLUTEntries {
		return 0, 0, 0, fmt.Errorf("%w: LUT of %d entries", ErrCorrupt, entries)
	}
	// The first mapped value is US or SS as the input is unsigned or signed; read as US it
	// needs reinterpreting (PS3.3 C.11.1.1.1).
	if signedInput && e.VR == "US" && first >= 32768 {
		first -= 65536
	}
	if bits < 1 || bits > 16 {
		return 0, 0, 0, fmt.Errorf("%w: LUT entries of %d bits", ErrCorrupt, bits)
	}
	return entries, first, bits, nil
}

func parseLUTItem(item *dicom.Dataset, signedInput bool, load loader) (*LUT, error) {
	entries, first, bits, err := descriptor(item.Get(tagLUTDescriptor), signedInput)
	if err != nil {
		return nil, err
	}
	data, err := lutData(item.Get(tagLUTData), entries, bits, load)
	if err != nil {
		return nil, err
	}
	return &LUT{FirstMapped: first, Bits: bits, Data: data, Explanation: item.String(tagLUTExplanation)}, nil
}

// lutData reads LUT Data: one entry per 16-bit word; for 8-bit palette entries the words may
// instead pack two entries each (PS3.3 C.7.6.3.1.6), which shows as half the length.
func lutData(e *dicom.Element, entries, bits int, load loader) ([]uint16, error) {
	if e == nil {
		return nil, fmt.Errorf("%w: LUT data missing", ErrCorrupt)
	}
	raw, err := load(e)
	if err != nil {
		return nil, err
	}
	out := make([]uint16, entries)
	switch {
	case len(raw) >= 2*entries:
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(raw[2*i:])
			if bits <= 8 && out[i] > 255 {
				// 8-bit entries written in the high byte by some devices.
				out[i] >>= 8
			}
		}
	case bits <= 8 && len(raw) >= entries:
		for i := range out {
			out[i] = uint16(raw[i])
		}
	default:
		return nil, fmt.Errorf("%w: LUT data of %d bytes for %d entries", ErrCorrupt, len(raw), entries)
	}
	if bits < 16 {
		m := uint16(1)<<bits - 1
		for i := range out {
			out[i] &= m
		}
	}
	return out, nil
}

func parsePalette(ds *dicom.Dataset, load loader) (*Palette, error) {
	if ds.Get(tagSegmentedRedPalette) != nil && ds.Get(tagRedPaletteData) == nil {
		return nil, fmt.Errorf("%w: segmented palette colour LUTs", ErrUnsupported)
	}
	var p Palette
	for k, dst := range []**LUT{&p.Red, &p.Green, &p.Blue} {
		// Palette descriptors' first mapped value follows the pixel representation, which
		// for palette images is unsigned in practice.
		entries, first, bits, err := descriptor(ds.Get(tagRedPaletteDescriptor+dicom.Tag(k)), false)
		if err != nil {
			return nil, err
		}
		data, err := lutData(ds.Get(tagRedPaletteData+dicom.Tag(k)), entries, bits, load)
		if err != nil {
			return nil, err
		}
		*dst = &LUT{FirstMapped: first, Bits: bits, Data: data}
	}
	return &p, nil
}

// lookup applies the LUT to v with the clamping of PS3.3 C.11.1.1.1.
func (l *LUT) lookup(v int) int {
	i := v - l.FirstMapped
	if i < 0 {
		i = 0
	} else if i >= len(l.Data) {
		i = len(l.Data) - 1
	}
	return int(l.Data[i])
}
