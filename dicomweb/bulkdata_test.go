package dicomweb

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

func testBulkdata(t *testing.T, f *fixture) {
	// Uncompressed Pixel Data, whatever the object's encoding, comes out as DCMTK reads
	// it: little endian.
	for _, name := range []string{"dr_mono2.dcm", "ts_explicit_be.dcm", "ts_deflated.dcm", "ts_implicit_le.dcm", "us_multiframe.dcm"} {
		t.Run(name, func(t *testing.T) {
			raw := dcmdumpPixelItems(t, filepath.Join("../testdata", name))[0]
			u := f.instanceURL(name) + "/bulkdata/7FE00010"
			r := get(t, http.MethodGet, u, map[string]string{"Accept": "application/octet-stream"})
			if r.status != http.StatusOK || r.header.Get("Content-Type") != mediaOctetStream || !bytes.Equal(r.body, raw) {
				t.Fatalf("single part: %d %q, %d bytes (want %d)", r.status, r.header.Get("Content-Type"), len(r.body), len(raw))
			}
			etag := r.header.Get("ETag")
			if strings.HasPrefix(etag, "W/") || r.header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("ETag %q (want strong), Accept-Ranges %q", etag, r.header.Get("Accept-Ranges"))
			}
			m := get(t, http.MethodGet, u, nil)
			if typ, parts := frameParts(t, m); typ != mediaOctetStream || len(parts) != 1 || !bytes.Equal(parts[0].body, raw) {
				t.Errorf("multipart: type %q, %d parts", typ, len(parts))
			}

			size := int64(len(raw))
			for _, tt := range []struct {
				rng, ifRange string
				status       int
				from, to     int64 // expected body raw[from:to]
			}{
				{"bytes=100-199", "", http.StatusPartialContent, 100, 200},
				{"bytes=101-200", "", http.StatusPartialContent, 101, 201}, // odd start inside a swapped word
				{"bytes=-10", "", http.StatusPartialContent, size - 10, size},
				{fmt.Sprintf("bytes=%d-", size-3), "", http.StatusPartialContent, size - 3, size},
				{"bytes=0-99999999", "", http.StatusPartialContent, 0, size},
				{fmt.Sprintf("bytes=%d-", size), "", http.StatusRequestedRangeNotSatisfiable, 0, 0},
				{"bytes=0-1,5-6", "", http.StatusOK, 0, size}, // several ranges: the whole value
				{"bytes=0-9", `"stale"`, http.StatusOK, 0, size},
				{"bytes=0-9", etag, http.StatusPartialContent, 0, 10},
				{"items=0-9", "", http.StatusOK, 0, size},
			} {
				hdr := map[string]string{"Accept": "application/octet-stream", "Range": tt.rng}
				if tt.ifRange != "" {
					hdr["If-Range"] = tt.ifRange
				}
				r := get(t, http.MethodGet, u, hdr)
				if r.status != tt.status {
					t.Errorf("Range %s: status %d, want %d", tt.rng, r.status, tt.status)
					continue
				}
				switch tt.status {
				case http.StatusRequestedRangeNotSatisfiable:
					if cr := r.header.Get("Content-Range"); cr != "bytes */"+strconv.FormatInt(size, 10) {
						t.Errorf("Range %s: Content-Range %q", tt.rng, cr)
					}
				case http.StatusPartialContent:
					if cr := r.header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", tt.from, tt.to-1, size) {
						t.Errorf("Range %s: Content-Range %q", tt.rng, cr)
					}
					fallthrough
				default:
					if !bytes.Equal(r.body, raw[tt.from:tt.to]) {
						t.Errorf("Range %s: %d bytes, want raw[%d:%d]", tt.rng, len(r.body), tt.from, tt.to)
					}
				}
			}
			// In a multipart response the range applies to the part.
			mr := get(t, http.MethodGet, u, map[string]string{"Range": "bytes=4-11"})
			body := mr.body
			if mr.status != http.StatusOK || !bytes.Contains(body, []byte("Content-Range: bytes 4-11/"+strconv.FormatInt(size, 10))) {
				t.Errorf("multipart range: %d", mr.status)
			}
			if _, parts := frameParts(t, mr); len(parts) != 1 || !bytes.Equal(parts[0].body, raw[4:12]) {
				t.Error("multipart range part differs")
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		u := f.instanceURL("dr_mono2.dcm") + "/bulkdata/"
		for _, tt := range []struct {
			path   string
			status int
		}{
			{"00100010", http.StatusNotFound}, // not bulk data: it is in the metadata
			{"7fe00010", http.StatusOK},       // case does not matter
			{"7FE0001", http.StatusBadRequest},
			{"00540016/0/00181072", http.StatusBadRequest}, // items are numbered from 1
			{"00540016/1", http.StatusBadRequest},
			{"zz/1/yy", http.StatusBadRequest},
		} {
			if r := get(t, http.MethodGet, u+tt.path, nil); r.status != tt.status {
				t.Errorf("%s: status %d, want %d: %s", tt.path, r.status, tt.status, r.body)
			}
		}
		if r := get(t, http.MethodGet, u+"7FE00010", map[string]string{"Accept": "image/png"}); r.status != http.StatusNotAcceptable {
			t.Errorf("image/png: %d", r.status)
		}
	})

	t.Run("small document inline", func(t *testing.T) {
		res, _ := getMeta(t, f.metaURL("pdf_encapsulated.dcm", levelInstance), nil)
		doc, _ := res[0]["00420011"].(map[string]any)
		b64, _ := doc["InlineBinary"].(string)
		pdf, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) || doc["BulkDataURI"] != nil {
			t.Errorf("Encapsulated Document: %v, %d bytes, %v", err, len(pdf), doc)
		}
	})
}

// TestBulkdataValues: values over 1 KiB go by reference, nested ones included, and come
// back byte for byte; an Encapsulated Document can be asked for in its own type.
func TestBulkdataValues(t *testing.T) {
	a, _ := newArchive(t)
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("0123456789abcdef"), 300)...)
	pdf = append(pdf, "%%EOF\n"...)
	if len(pdf)%2 == 1 {
		pdf = append(pdf, '\n')
	}
	nested := bytes.Repeat([]byte{1, 2, 3, 4}, 600) // 2400 bytes, in an item
	small := []byte{9, 8, 7, 6}
	study, series, sop := "1.2.826.0.1.3680043.10.3.1", "1.2.826.0.1.3680043.10.3.2", "1.2.826.0.1.3680043.10.3.3"
	obj := genObject{sopClass: encapsulatedPDF, sop: sop, study: study, series: series}.
		with(dicom.TagModality, "CS", "DOC").
		with(0x00420011, "OB", string(pdf)).
		with(0x00420012, "LO", "application/pdf ")
	obj.elements = append(obj.elements, genElement{tag: 0x00400275, vr: "SQ", items: [][]genElement{
		{{tag: 0x00401001, vr: "SH", value: []byte("RP1 ")}},
		{{tag: 0x00401001, vr: "SH", value: []byte("RP2 ")}, {tag: 0x00091010, vr: "OB", value: nested}, {tag: 0x00091011, vr: "OB", value: small}},
	}})
	if _, err := a.Put(context.Background(), bytes.NewReader(obj.bytes(t)), store.PutRequest{}); err != nil {
		t.Fatal(err)
	}
	base := serve(t, a, Config{Logger: testLogger()})
	inst := base + "/dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop
	res, _ := getMeta(t, inst+"/metadata", nil)
	uris := resolveBulk(t, inst+"/metadata", res[0])
	want := []string{inst + "/bulkdata/00400275/2/00091010", inst + "/bulkdata/00420011"}
	if fmt.Sprint(uris) != fmt.Sprint(want) {
		t.Fatalf("BulkDataURIs %v, want %v", uris, want)
	}
	for uri, value := range map[string][]byte{want[0]: nested, want[1]: pdf} {
		r := get(t, http.MethodGet, uri, map[string]string{"Accept": "application/octet-stream"})
		if r.status != http.StatusOK || !bytes.Equal(r.body, value) {
			t.Errorf("%s: %d, %d bytes (want %d)", uri, r.status, len(r.body), len(value))
		}
	}
	r := get(t, http.MethodGet, want[1], map[string]string{"Accept": "application/pdf"})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/pdf" || !bytes.Equal(r.body, pdf) {
		t.Errorf("as application/pdf: %d %q", r.status, r.header.Get("Content-Type"))
	}
	r = get(t, http.MethodGet, base+"/dicomweb/wado?requestType=WADO&studyUID="+study+"&seriesUID="+series+"&objectUID="+sop+"&contentType=application%2Fpdf", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/pdf" || !bytes.Equal(r.body, pdf) {
		t.Errorf("WADO-URI application/pdf: %d %q", r.status, r.header.Get("Content-Type"))
	}

	// With a public URL, BulkDataURIs are absolute under it.
	pub := serve(t, a, Config{Logger: testLogger(), PublicURL: "https://pacs.example/county1/"})
	res, _ = getMeta(t, pub+"/dicomweb/studies/"+study+"/series/"+series+"/metadata", nil)
	doc := res[0]["00420011"].(map[string]any)
	if got := doc["BulkDataURI"]; got != "https://pacs.example/county1/dicomweb/studies/"+study+"/series/"+series+"/instances/"+sop+"/bulkdata/00420011" {
		t.Errorf("absolute BulkDataURI %v", got)
	}
}
