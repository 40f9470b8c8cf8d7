package dicomweb

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

// metaURL is the metadata resource of a file's instance, series or study.
func (f *fixture) metaURL(name string, level metaLevel) string {
	e := f.expected[name]
	u := f.url + "/dicomweb/studies/" + e.StudyInstanceUID
	if level >= levelSeries {
		u += "/series/" + e.SeriesInstanceUID
	}
	if level == levelInstance {
		u += "/instances/" + e.SOPInstanceUID
	}
	return u + "/metadata"
}

// getMeta fetches metadata that must be there and decodes it generically.
func getMeta(t *testing.T, u string, hdr map[string]string) ([]map[string]any, response) {
	t.Helper()
	r := get(t, http.MethodGet, u, hdr)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, r.status, r.body)
	}
	var out []map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return out, r
}

// resolveBulk replaces every BulkDataURI in ds (recursively) by the absolute URL it
// resolves to against the URL of the request that returned it (RFC 3986 5.2), and
// returns them.
func resolveBulk(t *testing.T, base string, ds map[string]any) []string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(ds map[string]any)
	walk = func(ds map[string]any) {
		for _, v := range ds {
			a, ok := v.(map[string]any)
			if !ok {
				continue
			}
			if u, ok := a["BulkDataURI"].(string); ok {
				ref, err := url.Parse(u)
				if err != nil {
					t.Fatalf("BulkDataURI %q: %v", u, err)
				}
				abs := b.ResolveReference(ref).String()
				a["BulkDataURI"] = abs
				out = append(out, abs)
			}
			if a["vr"] == "SQ" {
				vals, _ := a["Value"].([]any)
				for _, it := range vals {
					if m, ok := it.(map[string]any); ok {
						walk(m)
					}
				}
			}
		}
	}
	walk(ds)
	sort.Strings(out)
	return out
}

func str(ds map[string]any, tag string) string {
	a, _ := ds[tag].(map[string]any)
	vals, _ := a["Value"].([]any)
	if len(vals) == 0 {
		return ""
	}
	s, _ := vals[0].(string)
	return s
}

func testMetadata(t *testing.T, f *fixture) {
	names := f.filesWhere(func(expectedFile) bool { return true })
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			e := f.expected[name]
			u := f.metaURL(name, levelInstance)
			res, r := getMeta(t, u, nil)
			if len(res) != 1 {
				t.Fatalf("%d data sets, want 1", len(res))
			}
			ds := res[0]
			if ct := r.header.Get("Content-Type"); ct != mediaDicomJSON {
				t.Errorf("Content-Type %q", ct)
			}
			for tag, want := range map[string]string{"00080018": e.SOPInstanceUID, "0020000D": e.StudyInstanceUID,
				"0020000E": e.SeriesInstanceUID, "00083002": e.TransferSyntaxUID} {
				if got := str(ds, tag); got != want {
					t.Errorf("%s = %q, want %q", tag, got, want)
				}
			}
			// Every top-level attribute DCMTK sees is there, and nothing else but the
			// Available Transfer Syntax UID pacsd adds.
			var keys []string
			for k := range ds {
				if k != "00083002" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			if want := dcmdumpTopLevel(t, filepath.Join("../testdata", name)); !slices.Equal(keys, want) {
				t.Errorf("attributes differ from dcmdump's\n got %v\nwant %v", keys, want)
			}
			var rec dicom.JSONDataset
			json.Unmarshal(r.body[1:len(r.body)-1], &rec)
			// Empty trailing groups ("...=") have no place in the JSON model (PS3.18 F.2.2).
			if got := rec.PersonName(dicom.TagPatientName).String(); got != strings.TrimRight(e.PatientName, "=") {
				t.Errorf("PatientName %q, want %q", got, e.PatientName)
			}
			if cs := str(ds, "00080005"); cs != "" && cs != "ISO_IR 192" {
				t.Errorf("Specific Character Set %q: the JSON is UTF-8", cs)
			}
			// Every BulkDataURI resolves to a retrievable value.
			for _, b := range resolveBulk(t, u, ds) {
				br := get(t, http.MethodGet, b, map[string]string{"Accept": `multipart/related; type="application/octet-stream"; transfer-syntax=*`})
				if br.status != http.StatusOK {
					t.Errorf("GET %s: %d %s", b, br.status, br.body)
				}
			}
			if _, ok := ds["7FE00010"]; ok {
				px := ds["7FE00010"].(map[string]any)
				if px["BulkDataURI"] == nil || px["InlineBinary"] != nil || px["Value"] != nil {
					t.Errorf("Pixel Data not by reference: %v", px)
				}
			}
		})
	}

	t.Run("golden", func(t *testing.T) {
		for _, tt := range []struct {
			file  string
			level metaLevel
		}{
			{"dr_mono2.dcm", levelInstance},         // GB18030, native pixel data
			{"charset_ir58.dcm", levelInstance},     // ISO 2022 IR 58
			{"sr_basic_text.dcm", levelInstance},    // nested sequences
			{"pdf_encapsulated.dcm", levelInstance}, // a small document inline
			{"ts_explicit_be.dcm", levelInstance},   // big endian object
			{"us_multiframe_jpeg.dcm", levelSeries}, // encapsulated multi-frame, series-relative URIs
		} {
			_, r := getMeta(t, f.metaURL(tt.file, tt.level), nil)
			compareGolden(t, "metadata_"+tt.level.String()+"_"+strings.TrimSuffix(tt.file, ".dcm"), r.body)
		}
	})

	t.Run("series is the concatenation of its instances", func(t *testing.T) {
		name := "us_multiframe_jpeg.dcm"
		su := f.metaURL(name, levelSeries)
		series, _ := getMeta(t, su, nil)
		members := f.filesWhere(func(e expectedFile) bool { return e.SeriesInstanceUID == f.expected[name].SeriesInstanceUID })
		if len(series) != len(members) || len(members) < 2 {
			t.Fatalf("%d data sets, want %d (>1)", len(series), len(members))
		}
		for _, ds := range series {
			resolveBulk(t, su, ds)
		}
		for _, m := range members {
			iu := f.metaURL(m, levelInstance)
			one, _ := getMeta(t, iu, nil)
			resolveBulk(t, iu, one[0])
			i := slices.IndexFunc(series, func(ds map[string]any) bool { return str(ds, "00080018") == f.expected[m].SOPInstanceUID })
			if i < 0 {
				t.Fatalf("%s missing from the series", m)
			}
			if !reflect.DeepEqual(series[i], one[0]) {
				t.Errorf("%s: series entry differs from instance metadata", m)
			}
		}
	})

	t.Run("study", func(t *testing.T) {
		name := "dr_mono2.dcm"
		su := f.metaURL(name, levelStudy)
		study, _ := getMeta(t, su, nil)
		members := f.filesWhere(func(e expectedFile) bool { return e.StudyInstanceUID == f.expected[name].StudyInstanceUID })
		if len(study) != len(members) {
			t.Fatalf("%d data sets, want %d", len(study), len(members))
		}
		for _, ds := range study {
			for _, b := range resolveBulk(t, su, ds) {
				if !strings.Contains(b, "/series/"+str(ds, "0020000E")+"/instances/"+str(ds, "00080018")+"/bulkdata/") {
					t.Errorf("BulkDataURI %s does not resolve under its own instance", b)
				}
			}
		}
	})

	t.Run("validators and compression", func(t *testing.T) {
		u := f.metaURL("us_multiframe_jpeg.dcm", levelSeries)
		plain := get(t, http.MethodGet, u, nil)
		etag := plain.header.Get("ETag")
		if !strings.HasPrefix(etag, `W/"`) || plain.header.Get("Cache-Control") != cacheMetadata {
			t.Errorf("ETag %q Cache-Control %q", etag, plain.header.Get("Cache-Control"))
		}
		if r := get(t, http.MethodGet, u, map[string]string{"If-None-Match": etag}); r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Errorf("If-None-Match: %d, %d bytes", r.status, len(r.body))
		}
		gz := get(t, http.MethodGet, u, map[string]string{"Accept-Encoding": "gzip"})
		if vary := strings.Join(gz.header.Values("Vary"), ", "); gz.header.Get("Content-Encoding") != "gzip" || !strings.Contains(vary, "Accept-Encoding") {
			t.Fatalf("Content-Encoding %q Vary %q", gz.header.Get("Content-Encoding"), vary)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz.body))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(raw, plain.body) {
			t.Errorf("gunzipped body differs from the plain one (%v)", err)
		}
		if len(gz.body) >= len(plain.body) {
			t.Errorf("gzip body %d bytes, plain %d", len(gz.body), len(plain.body))
		}
		for _, ae := range []string{"gzip;q=0", "identity", "br"} {
			if r := get(t, http.MethodGet, u, map[string]string{"Accept-Encoding": ae}); r.header.Get("Content-Encoding") != "" {
				t.Errorf("Accept-Encoding %q got %q", ae, r.header.Get("Content-Encoding"))
			}
		}
		h := get(t, http.MethodHead, u, nil)
		if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("Content-Length") != plain.header.Get("Content-Length") {
			t.Errorf("HEAD: %d, %d bytes, Content-Length %q vs %q", h.status, len(h.body), h.header.Get("Content-Length"), plain.header.Get("Content-Length"))
		}
	})

	t.Run("XML", func(t *testing.T) {
		name := "charset_ir58.dcm"
		u := f.metaURL(name, levelSeries)
		r := get(t, http.MethodGet, u, map[string]string{"Accept": `multipart/related; type="application/dicom+xml"`})
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		docs := xmlParts(t, r)
		if len(docs) != 1 {
			t.Fatalf("%d parts", len(docs))
		}
		m := parseNativeXML(t, docs[0])
		pn := m.attr("00100010")
		if pn == nil || len(pn.PersonName) != 1 || pn.PersonName[0].Alphabetic.Family != "Zhang" ||
			pn.PersonName[0].Ideographic.Family != "张" || pn.PersonName[0].Ideographic.Given != "伟" {
			t.Errorf("PatientName in XML: %+v", pn)
		}
		if a := m.attr("7FE00010"); a == nil || a.BulkData == nil || !strings.HasPrefix(a.BulkData.URI, "instances/") {
			t.Errorf("Pixel Data in XML: %+v", a)
		}
		if a := m.attr("00100020"); a == nil || a.Keyword != "PatientID" || len(a.Value) != 1 || a.Value[0].Text != f.header(t, name).String(dicom.TagPatientID) {
			t.Errorf("PatientID in XML: %+v", a)
		}
	})

	t.Run("errors", func(t *testing.T) {
		gb := f.expected["dr_mono2.dcm"]
		base := f.url + "/dicomweb/studies/"
		for _, tt := range []struct {
			name, url, accept string
			status            int
		}{
			{"unknown study", base + "1.2.3/metadata", "", http.StatusNotFound},
			{"unknown series", base + gb.StudyInstanceUID + "/series/1.2.3/metadata", "", http.StatusNotFound},
			{"instance under another series", base + gb.StudyInstanceUID + "/series/1.2.3/instances/" + gb.SOPInstanceUID + "/metadata", "", http.StatusNotFound},
			{"bad UID", base + "1..2/metadata", "", http.StatusBadRequest},
			{"not acceptable", f.metaURL("dr_mono2.dcm", levelInstance), "text/html", http.StatusNotAcceptable},
			{"bare XML", f.metaURL("dr_mono2.dcm", levelInstance), "application/dicom+xml", http.StatusNotAcceptable},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := get(t, http.MethodGet, tt.url, map[string]string{"Accept": tt.accept})
				if r.status != tt.status {
					t.Errorf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				var body struct{ Message string }
				if json.Unmarshal(r.body, &body) != nil || body.Message == "" {
					t.Errorf("error body %q", r.body)
				}
			})
		}
	})
}

// xmlParts splits a multipart/related; type="application/dicom+xml" response.
func xmlParts(t *testing.T, r response) [][]byte {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["type"] != mediaDicomXML {
		t.Fatalf("Content-Type %q: %v", r.header.Get("Content-Type"), err)
	}
	var docs [][]byte
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Header.Get("Content-Type"), mediaDicomXML) {
			t.Errorf("part Content-Type %q", p.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(p)
		docs = append(docs, b)
	}
}

// Just enough of the PS3.19 schema to check what pacsd writes.
type xmlModel struct {
	XMLName xml.Name  `xml:"http://dicom.nema.org/PS3.19/models/NativeDICOM NativeDicomModel"`
	Attrs   []xmlAttr `xml:"DicomAttribute"`
}

type xmlAttr struct {
	Tag     string `xml:"tag,attr"`
	VR      string `xml:"vr,attr"`
	Keyword string `xml:"keyword,attr"`
	Value   []struct {
		Number int    `xml:"number,attr"`
		Text   string `xml:",chardata"`
	} `xml:"Value"`
	PersonName []struct {
		Alphabetic  xmlPN `xml:"Alphabetic"`
		Ideographic xmlPN `xml:"Ideographic"`
	} `xml:"PersonName"`
	BulkData *struct {
		URI string `xml:"uri,attr"`
	} `xml:"BulkData"`
	InlineBinary string    `xml:"InlineBinary"`
	Items        []xmlItem `xml:"Item"`
}

type xmlItem struct {
	Number int       `xml:"number,attr"`
	Attrs  []xmlAttr `xml:"DicomAttribute"`
}

type xmlPN struct {
	Family string `xml:"FamilyName"`
	Given  string `xml:"GivenName"`
}

func parseNativeXML(t *testing.T, doc []byte) *xmlModel {
	t.Helper()
	var m xmlModel
	if err := xml.Unmarshal(doc, &m); err != nil {
		t.Fatalf("XML: %v\n%s", err, doc)
	}
	if !sort.SliceIsSorted(m.Attrs, func(i, j int) bool { return m.Attrs[i].Tag < m.Attrs[j].Tag }) {
		t.Error("attributes not in tag order")
	}
	return &m
}

func (m *xmlModel) attr(tag string) *xmlAttr {
	for i := range m.Attrs {
		if m.Attrs[i].Tag == tag {
			return &m.Attrs[i]
		}
	}
	return nil
}

// TestMetadataCache: records are built once per object version, read back from
// CacheDir after a restart, and rebuilt when the instance is replaced.
func TestMetadataCache(t *testing.T) {
	a, _ := newArchive(t)
	ctx := context.Background()
	cacheDir := t.TempDir()
	town := store.Origin{Transport: "dimse", CallingAE: "TOWN_A", Site: "site:1"}
	study, series := "1.2.826.0.1.3680043.10.1.1", "1.2.826.0.1.3680043.10.1.2"
	var sops []string
	for i := 1; i <= 3; i++ {
		sop := "1.2.826.0.1.3680043.10.1.3." + itoaPad(i)
		sops = append(sops, sop)
		obj := imageObject(sop, study, series, 16, 16, 1).with(dicom.TagPatientID, "LO", "P-OLD ").with(dicom.TagInstanceNumber, "IS", itoaPad(i)+" ")
		if _, err := a.Put(ctx, bytes.NewReader(obj.bytes(t)), store.PutRequest{Origin: town}); err != nil {
			t.Fatal(err)
		}
	}
	e, s := serveWith(t, a, Config{Logger: testLogger(), CacheDir: cacheDir})
	u := e + "/dicomweb/studies/" + study + "/series/" + series + "/metadata"
	first, r1 := getMeta(t, u, nil)
	if len(first) != 3 || s.meta.builds.Load() != 3 {
		t.Fatalf("%d data sets, %d builds; want 3, 3", len(first), s.meta.builds.Load())
	}
	getMeta(t, u, nil)
	getMeta(t, e+"/dicomweb/studies/"+study+"/metadata", nil)
	if n := s.meta.builds.Load(); n != 3 {
		t.Errorf("%d builds after repeated requests, want 3", n)
	}
	files, _ := filepath.Glob(filepath.Join(cacheDir, "*", "*.json"))
	if len(files) != 3 {
		t.Errorf("%d cache files, want 3", len(files))
	}

	// A restarted server reads the records back instead of reading the objects.
	e2, s2 := serveWith(t, a, Config{Logger: testLogger(), CacheDir: cacheDir})
	_, r2 := getMeta(t, e2+"/dicomweb/studies/"+study+"/series/"+series+"/metadata", nil)
	if s2.meta.builds.Load() != 0 || !bytes.Equal(r1.body, r2.body) {
		t.Errorf("after restart: %d builds, same body %v", s2.meta.builds.Load(), bytes.Equal(r1.body, r2.body))
	}

	// A damaged cache file is rebuilt, not served.
	if err := os.WriteFile(files[0], []byte(`{"v":1,"sop":"x"`), 0o644); err != nil {
		t.Fatal(err)
	}
	e3, s3 := serveWith(t, a, Config{Logger: testLogger(), CacheDir: cacheDir})
	_, r3 := getMeta(t, e3+"/dicomweb/studies/"+study+"/series/"+series+"/metadata", nil)
	if s3.meta.builds.Load() != 1 || !bytes.Equal(r1.body, r3.body) {
		t.Errorf("damaged file: %d builds, same body %v", s3.meta.builds.Load(), bytes.Equal(r1.body, r3.body))
	}

	// The modality corrects the first instance: same UID, new content, from its own site
	// (the overwrite rule).
	obj := imageObject(sops[0], study, series, 16, 16, 1).with(dicom.TagPatientID, "LO", "P-NEW ").with(dicom.TagInstanceNumber, "IS", "1 ")
	if _, err := a.Put(ctx, bytes.NewReader(obj.bytes(t)), store.PutRequest{Origin: town}); err != nil {
		t.Fatal(err)
	}
	after, r4 := getMeta(t, u, nil)
	if r4.header.Get("ETag") == r1.header.Get("ETag") {
		t.Error("ETag unchanged after a replaced instance")
	}
	i := slices.IndexFunc(after, func(ds map[string]any) bool { return str(ds, "00080018") == sops[0] })
	if i < 0 || str(after[i], "00100020") != "P-NEW" {
		t.Errorf("replaced instance not reflected: %v", after)
	}
	old, _ := filepath.Glob(filepath.Join(cacheDir, "*", sops[0]+".*.json"))
	if len(old) != 1 {
		t.Errorf("%d cache files for the replaced instance, want 1 (the new version)", len(old))
	}
}

// listingIndex lists instance versions by way of Instances, counting the calls.
type listingIndex struct {
	store.Index
	calls int
}

func (x *listingIndex) EachInstanceVersion(ctx context.Context, study, series string, fn func(string, string, string) error) error {
	x.calls++
	list, err := x.Index.Instances(ctx, study, series)
	if err != nil {
		return err
	}
	for _, in := range list {
		if err := fn(in.SeriesInstanceUID, in.SOPInstanceUID, in.SHA256); err != nil {
			return err
		}
	}
	return nil
}

// TestMetadataVersionLister: series and study metadata come from the index's version
// listing (EachInstanceVersion), and are the same whichever way the index lists them.
func TestMetadataVersionLister(t *testing.T) {
	f := newFixture(t, "dr_mono2.dcm", "ts_rle.dcm", "sr_basic_text.dcm", "us_multiframe.dcm")
	li := &listingIndex{Index: f.archive.Index().(store.Index)} // a second archive on the same index
	a, err := store.NewArchive(li, f.blobs, store.Config{SpoolDir: t.TempDir(), MinFreeBytes: -1, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	withLister := serve(t, a, Config{Logger: testLogger()})
	for _, level := range []metaLevel{levelStudy, levelSeries} {
		u := f.metaURL("dr_mono2.dcm", level)
		want := get(t, http.MethodGet, u, nil)
		got := get(t, http.MethodGet, strings.Replace(u, f.url, withLister, 1), nil)
		if got.status != http.StatusOK || !bytes.Equal(got.body, want.body) || got.header.Get("ETag") != want.header.Get("ETag") {
			t.Errorf("%s: %d, same body %v", level, got.status, bytes.Equal(got.body, want.body))
		}
	}
	if li.calls != 2 {
		t.Errorf("EachInstanceVersion called %d times, want 2", li.calls)
	}
	if r := get(t, http.MethodGet, withLister+"/dicomweb/studies/1.2.3/metadata", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown study: %d", r.status)
	}
}
