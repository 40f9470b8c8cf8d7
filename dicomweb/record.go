package dicomweb

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/store"
)

// An instance record is what pacsd learns from reading one stored object once: its DICOM
// JSON (PS3.18 Annex F) with bulk data replaced by BulkDataURIs, where each bulk value lies
// in the object, and where each frame lies. It is built on the first request that needs it
// and cached (cache.go), keyed by SOP Instance UID and content SHA-256.

// recordVersion changes whenever the record's shape or content rules change, so that
// records written by an older pacsd are rebuilt rather than trusted.
const recordVersion = 1

// inlineBinaryMax: binary values up to this size travel inline (InlineBinary, PS3.18
// F.2.7); larger ones, and Pixel Data always, by BulkDataURI (F.2.6).
const inlineBinaryMax = 1024

// bulkPrefix starts every BulkDataURI in a record: relative to the instance's URL. The
// metadata handler puts the path to the instance in front (see rewriteBulkURIs).
const bulkPrefix = "bulkdata/"

type instanceRecord struct {
	Version           int    `json:"v"`
	StudyInstanceUID  string `json:"study"`
	SeriesInstanceUID string `json:"series"`
	SOPInstanceUID    string `json:"sop"`
	SOPClassUID       string `json:"class"`
	SHA256            string `json:"sha"`
	Size              int64  `json:"size"`
	TransferSyntax    string `json:"ts"`
	// DatasetOffset is where the (raw) data set begins; for a deflated data set, offsets in
	// Bulk and Pixel count in the inflated stream that starts there.
	DatasetOffset int64 `json:"datasetOffset"`
	Deflated      bool  `json:"deflated,omitempty"`
	BigEndian     bool  `json:"bigEndian,omitempty"`
	// Metadata is the instance's DICOM JSON object, BulkDataURIs relative to the instance
	// ("bulkdata/<path>").
	Metadata json.RawMessage    `json:"meta"`
	Bulk     map[string]bulkRef `json:"bulk,omitempty"`
	Pixel    *pixel.Layout      `json:"pixel,omitempty"`
}

// bulkRef locates one bulk value.
type bulkRef struct {
	Offset int64  `json:"o"`
	Length int64  `json:"n"`
	VR     string `json:"vr"`
}

// cost is an estimate of the memory a record holds, for the cache's byte budget.
func (ir *instanceRecord) cost() int64 {
	n := int64(len(ir.Metadata)) + 512 + int64(len(ir.Bulk))*96
	if ir.Pixel != nil {
		for _, f := range ir.Pixel.FrameFragments {
			n += 24 + int64(len(f))*16
		}
	}
	return n
}

func isPixelDataTag(t dicom.Tag) bool {
	return t == dicom.TagPixelData || t == dicom.TagFloatPixelData || t == dicom.TagDoubleFloatPixelData
}

// buildRecord reads the header of one stored object (r, of rec.Size bytes) and describes
// it. Only headers are read: values longer than the reader's limit and pixel data are
// skipped by seeking, except in a deflated data set, which has to be inflated to be read.
func buildRecord(rec *store.Instance, r io.ReadSeeker, fallbackCharset string) (*instanceRecord, error) {
	hdr, ts, err := readRecordHeader(rec, r, fallbackCharset)
	if err != nil {
		return nil, err
	}
	ir := newRecord(rec, hdr, ts)
	// Element offsets count from the first byte of the data set; base turns them into
	// offsets in the object (or leaves them in the inflated stream).
	base := hdr.DatasetOffset
	if ts.Deflated {
		base = 0
	}
	all := &dicom.Dataset{Elements: append([]*dicom.Element(nil), hdr.Dataset.Elements...)}
	switch {
	case ts.Deflated:
		ir.Pixel = deflatedPixelLayout(hdr.Dataset)
	case hdr.PixelDataOffset >= 0:
		if err := ir.locatePixelData(all, r, hdr, ts, base, fallbackCharset); err != nil {
			return nil, err
		}
	}
	if ir.Metadata, err = ir.metadata(all, base); err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return ir, nil
}

// readRecordHeader reads the header of a stored object, and the transfer syntax it is read
// in.
func readRecordHeader(rec *store.Instance, r io.ReadSeeker, fallbackCharset string) (*dicom.Header, dicom.TransferSyntax, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, dicom.TransferSyntax{}, fmt.Errorf("seek: %w", err)
	}
	ts, known := dicom.LookupTransferSyntax(rec.TransferSyntaxUID)
	opts := dicom.ReadOptions{FallbackCharset: fallbackCharset, KeepPixelData: known && ts.Deflated}
	hdr, err := dicom.ReadPart10(r, opts)
	if err != nil {
		return nil, dicom.TransferSyntax{}, fmt.Errorf("read header: %w", err)
	}
	if !known {
		// Not a syntax pacsd names (the archive stores what it is sent): the data set is
		// Explicit VR Little Endian unless the reader guessed otherwise (PS3.5 A.4).
		ts, _ = dicom.LookupTransferSyntax(dicom.ExplicitVRLittleEndian)
		if hdr.TransferSyntax == dicom.ImplicitVRLittleEndian {
			ts, _ = dicom.LookupTransferSyntax(dicom.ImplicitVRLittleEndian)
		}
	}
	return hdr, ts, nil
}

func newRecord(rec *store.Instance, hdr *dicom.Header, ts dicom.TransferSyntax) *instanceRecord {
	return &instanceRecord{
		Version:           recordVersion,
		StudyInstanceUID:  rec.StudyInstanceUID,
		SeriesInstanceUID: rec.SeriesInstanceUID,
		SOPInstanceUID:    rec.SOPInstanceUID,
		SOPClassUID:       rec.SOPClassUID,
		SHA256:            rec.SHA256,
		Size:              rec.Size,
		TransferSyntax:    rec.TransferSyntaxUID,
		DatasetOffset:     hdr.DatasetOffset,
		Deflated:          ts.Deflated,
		BigEndian:         ts.BigEndian,
		Bulk:              map[string]bulkRef{},
	}
}

// deflatedPixelLayout is the layout of Pixel Data in a deflated data set, which the header
// reader inflated and kept (offsets in the inflated stream), or nil when there is none.
func deflatedPixelLayout(ds *dicom.Dataset) *pixel.Layout {
	for _, e := range ds.Elements {
		if !isPixelDataTag(e.Tag) {
			continue
		}
		if e.Length == undefinedLength {
			return &pixel.Layout{Tag: e.Tag, VR: e.VR, Offset: e.Offset, Problem: "encapsulated pixel data in a deflated data set"}
		}
		return pixel.NativeLayout(e.Tag, e.VR, e.Offset, int64(e.Length), ds)
	}
	return nil
}

// locatePixelData finds Pixel Data and its frames where the header reader stopped, and adds
// to all the Pixel Data element and the elements after it.
func (ir *instanceRecord) locatePixelData(all *dicom.Dataset, r io.ReadSeeker, hdr *dicom.Header, ts dicom.TransferSyntax, base int64, fallbackCharset string) error {
	off := hdr.DatasetOffset + hdr.PixelDataOffset
	px, end, err := pixel.LocateFrames(readerAt(r), off, ir.Size, hdr.Dataset, ts)
	if err != nil {
		return fmt.Errorf("locate pixel data: %w", err)
	}
	ir.Pixel = px
	pe := &dicom.Element{Tag: px.Tag, VR: px.VR, Length: uint32(px.Length), Offset: px.Offset - base}
	if px.Encapsulated {
		pe.Length = undefinedLength
	}
	all.Elements = append(all.Elements, pe)
	if end >= ir.Size {
		return nil
	}
	trailing, err := readTrailing(r, end, ir.Size, ts, hdr, fallbackCharset)
	if err != nil {
		return nil // see readTrailing
	}
	all.Elements = append(all.Elements, trailing.Elements...)
	for _, e := range trailing.Elements {
		e.Offset += end - hdr.DatasetOffset // now relative to the data set like the others
	}
	propagateOffsets(trailing, end-hdr.DatasetOffset)
	return nil
}

// metadata is the instance's DICOM JSON: binary values larger than inlineBinaryMax, and
// Pixel Data, become BulkDataURIs, each recorded in ir.Bulk.
func (ir *instanceRecord) metadata(all *dicom.Dataset, base int64) (json.RawMessage, error) {
	paths := bulkPaths(all)
	js := all.ToJSON(dicom.JSONOptions{
		Include: func(t dicom.Tag) bool { return t != 0xFFFCFFFC }, // Data Set Trailing Padding is not content
		BulkDataURI: func(path []dicom.Tag, e *dicom.Element) string {
			p, ok := paths[e]
			if !ok {
				return ""
			}
			pixel := len(path) == 1 && isPixelDataTag(e.Tag)
			if !pixel {
				if e.Length == undefinedLength {
					return "" // encapsulated data nested in an item (an icon): left out
				}
				if e.Loaded() && len(e.Bytes) <= inlineBinaryMax {
					return ""
				}
			}
			ref := bulkRef{Offset: base + e.Offset, Length: int64(e.Length), VR: e.VR}
			if e.Length == undefinedLength {
				ref.Length = -1
			}
			ir.Bulk[p] = ref
			return bulkPrefix + p
		},
	})
	// DICOM JSON is UTF-8 whatever the object was encoded in (PS3.18 F.2): a Specific
	// Character Set copied from the object would mislabel the values.
	if _, ok := js[dicom.TagSpecificCharacterSet.Hex()]; ok {
		js[dicom.TagSpecificCharacterSet.Hex()] = dicom.JSONAttribute{VR: "CS", Value: []any{"ISO_IR 192"}}
	}
	// Available Transfer Syntax UID (0008,3002): the syntax the object is stored, and so
	// retrievable, in; frame requests with transfer-syntax=* get exactly this.
	js["00083002"] = dicom.JSONAttribute{VR: "UI", Value: []any{ir.TransferSyntax}}
	return json.Marshal(js)
}

// bulkPaths names each value for its BulkDataURI: tags from the top level down, with
// 1-based item numbers between a sequence and the elements of its items.
func bulkPaths(ds *dicom.Dataset) map[*dicom.Element]string {
	paths := map[*dicom.Element]string{}
	var walk func(ds *dicom.Dataset, prefix string)
	walk = func(ds *dicom.Dataset, prefix string) {
		for _, e := range ds.Elements {
			p := prefix + e.Tag.Hex()
			paths[e] = p
			for i, item := range e.Items {
				walk(item, p+"/"+strconv.Itoa(i+1)+"/")
			}
		}
	}
	walk(ds, "")
	return paths
}

// propagateOffsets shifts the offsets of elements nested in items of ds by delta (the
// top-level ones were shifted by the caller).
func propagateOffsets(ds *dicom.Dataset, delta int64) {
	for _, e := range ds.Elements {
		for _, item := range e.Items {
			for _, ne := range item.Elements {
				ne.Offset += delta
			}
			propagateOffsets(item, delta)
		}
	}
}

// readTrailing reads the elements after Pixel Data (digital signatures, padding, private
// trailers). They are rare and small; a failure to read them is not a failure to describe
// the object, so the caller ignores errors.
func readTrailing(r io.ReadSeeker, end, size int64, ts dicom.TransferSyntax, hdr *dicom.Header, fallback string) (*dicom.Dataset, error) {
	if _, err := r.Seek(end, io.SeekStart); err != nil {
		return nil, err
	}
	// The data set's own character set still applies after Pixel Data; a single-valued one
	// without code extensions can be handed to the reader as its fallback.
	if len(hdr.Charsets) == 1 && hdr.Charsets[0] != "" && !strings.HasPrefix(hdr.Charsets[0], "ISO 2022") {
		fallback = hdr.Charsets[0]
	}
	return dicom.ReadDataset(io.LimitReader(r, size-end), ts.UID, dicom.ReadOptions{FallbackCharset: fallback})
}
