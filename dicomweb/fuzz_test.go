package dicomweb

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/store"
)

// FuzzPathParsers: frame lists, bulk data paths and WADO-URI queries come from the wire;
// whatever they are, the parsers answer with a value or a 400, and what they accept is in
// bounds.
func FuzzPathParsers(f *testing.F) {
	for _, s := range []string{"1", "1,3,5", "1%2C2", "0", "-1", "99999999999", ",", "7FE00010", "00540016/1/00181072",
		"requestType=WADO&studyUID=1.2&seriesUID=1.3&objectUID=1.4&contentType=image%2Fjpeg%3Bq%3D0.5%2Capplication%2Fdicom",
		"requestType=WADO&studyUID=1.2&anonymize=yes&transferSyntax=*", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if nums, err := parseFrameList(s); err == nil {
			if len(nums) == 0 || len(nums) > maxFrameList {
				t.Fatalf("%d frames", len(nums))
			}
			for _, n := range nums {
				if n < 1 || n > maxFrames {
					t.Fatalf("frame %d", n)
				}
			}
		} else {
			asHTTPError(t, err, http.StatusBadRequest)
		}
		if p, err := parseBulkPath(s); err == nil {
			if p == "" || len(p) > maxBulkPath || strings.ContainsAny(p, ".\\ ") {
				t.Fatalf("path %q", p)
			}
		} else {
			asHTTPError(t, err, http.StatusBadRequest)
		}
		if q, err := url.ParseQuery(s); err == nil {
			if req, err := parseWADOURI(q); err == nil {
				for _, u := range []string{req.study, req.series, req.object} {
					if !dicom.ValidUID(u, dicom.UIDLeadingZeros) {
						t.Fatalf("UID %q accepted", u)
					}
				}
			} else {
				asHTTPError(t, err, http.StatusBadRequest)
			}
		}
	})
}

// FuzzRenderParams: the rendering parameters of WADO-RS (PS3.18 8.3.5.1), thumbnails and
// WADO-URI come from the wire; whatever they are, the parsers answer with parameters the
// renderer can use, or 400 (406 for a presentation state), and rendering a small frame with
// what they accept never fails for want of a valid window or size.
func FuzzRenderParams(f *testing.F) {
	for _, s := range []string{"viewport=512,512", "viewport=64,64,10,10,-20,30&window=40,400,sigmoid&quality=80",
		"window=1e308,1e308", "viewport=1,1,,,,", "annotation=patient,technique&iccprofile=yes",
		"rows=64&columns=32&windowCenter=10&windowWidth=20&region=0,0,0.5,0.5&frameNumber=2&imageQuality=5",
		"viewport=99999,1", "window=1,0.5,linear-exact", "quality=-1", "viewport=5,5,1e400,0,1,1"} {
		f.Add(s)
	}
	df := &decodedFrame{fr: &pixel.Frame{Rows: 8, Columns: 8, SamplesPerPixel: 1, Photometric: pixel.Monochrome2, BitsStored: 12, Data16: make([]uint16, 64)},
		info: pixel.Info{Rows: 8, Columns: 8, NumberOfFrames: 1, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 12, HighBit: 11,
			Photometric: pixel.Monochrome2, RescaleSlope: 1}, cols: 8, rows: 8}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		check := func(p renderParams, err error, statuses ...int) {
			if err != nil {
				var he *echo.HTTPError
				if !errors.As(err, &he) || !slices.Contains(statuses, he.Code) {
					t.Fatalf("error %v for %q, want one of %v", err, s, statuses)
				}
				return
			}
			if p.vw < 0 || p.vh < 0 || p.vw > maxViewport || p.vh > maxViewport || p.quality < 0 || p.quality > 100 ||
				(p.window != nil && !(p.window.Width > 0)) {
				t.Fatalf("accepted %+v for %q", p, s)
			}
			if size := p.decodeSize(8, 8); size < 0 {
				t.Fatalf("decode size %d", size)
			}
			if _, err := p.render(df); err != nil && !strings.Contains(err.Error(), "outside") {
				t.Fatalf("render with %+v: %v", p, err)
			}
		}
		for _, thumb := range []bool{false, true} {
			p, err := parseRenderParams(q, thumb)
			check(p, err, http.StatusBadRequest)
		}
		p, _, err := parseWADOURIRendering(q, 3)
		check(p, err, http.StatusBadRequest, http.StatusNotAcceptable)
	})
}

// FuzzBuildRecord: describing a stored object reads its headers and fragment items; a
// damaged object gives an error, never a panic, and every frame it locates lies inside
// the object.
func FuzzBuildRecord(f *testing.F) {
	// Small seeds keep the fuzzer fast: committed files under 10 KB, and generated
	// multi-frame objects, native and encapsulated (with and without an offset table).
	for _, name := range []string{"ts_rle.dcm", "ts_deflated.dcm", "ts_jpeg_baseline.dcm", "sr_basic_text.dcm", "charset_ir58.dcm"} {
		b, err := os.ReadFile(filepath.Join("../testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(imageObject("1.2.3", "1.2.4", "1.2.5", 4, 4, 3).bytes(f))
	enc := genObject{sopClass: "1.2.840.10008.5.1.4.1.1.7", sop: "1.2.3", study: "1.2.4", series: "1.2.5", ts: dicom.JPEGBaseline8Bit}.
		with(dicom.TagNumberOfFrames, "IS", "2 ").with(dicom.TagRows, "US", us16(4)).with(dicom.TagColumns, "US", us16(4))
	enc.fragments = [][]byte{{0xFF, 0xD8, 1, 2}, {3, 4}, {0xFF, 0xD8, 5, 6}}
	f.Add(enc.bytes(f))
	enc.bot = []uint32{0, 22}
	f.Add(enc.bytes(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
		if err != nil {
			return // the archive refuses what it cannot read
		}
		rec := &store.Instance{SOPInstanceUID: "1.2.3", SHA256: strings.Repeat("0", 64), Size: int64(len(b)), TransferSyntaxUID: hdr.TransferSyntax}
		ir, err := buildRecord(rec, bytes.NewReader(b), "")
		if err != nil || ir.Pixel == nil {
			return
		}
		for n := 1; n <= ir.Pixel.Frames; n++ {
			frs, size, err := ir.Pixel.Frame(n)
			if err != nil {
				t.Fatalf("frame %d of %d: %v", n, ir.Pixel.Frames, err)
			}
			if size < 0 {
				t.Fatalf("frame %d size %d", n, size)
			}
			for _, fr := range frs {
				limit := int64(len(b))
				if ir.Deflated {
					continue // offsets in the inflated stream
				}
				if fr.Offset < 0 || fr.Length < 0 || fr.Offset+fr.Length > limit {
					t.Fatalf("frame %d fragment %+v outside %d bytes", n, fr, limit)
				}
			}
		}
	})
}
