package dicomweb

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/store"
)

func TestParseSearch(t *testing.T) {
	pn, uid, date := dicom.TagPatientName, dicom.TagStudyInstanceUID, dicom.TagStudyDate
	tests := []struct {
		name    string
		raw     string
		matches []store.Match
		check   func(t *testing.T, r *searchRequest)
	}{
		{name: "percent-encoded Chinese prefix", raw: "PatientName=%E5%BC%A0*",
			matches: []store.Match{{Tag: pn, Value: "张*"}}},
		{name: "tag instead of keyword", raw: "00100010=Zhang*",
			matches: []store.Match{{Tag: pn, Value: "Zhang*"}}},
		{name: "plus is a space", raw: "PatientName=Zhang+Wei",
			matches: []store.Match{{Tag: pn, Value: "Zhang Wei"}}},
		{name: "escaped plus stays", raw: "AcquisitionDateTime=20240101120000%2B0800",
			matches: []store.Match{{Tag: 0x0008002A, Value: "20240101120000+0800"}}},
		{name: "UID list with commas", raw: "StudyInstanceUID=1.2.3,1.2.4",
			matches: []store.Match{{Tag: uid, Value: `1.2.3\1.2.4`}}},
		{name: "UID list with backslashes", raw: "StudyInstanceUID=1.2.3%5C1.2.4",
			matches: []store.Match{{Tag: uid, Value: `1.2.3\1.2.4`}}},
		{name: "date range", raw: "StudyDate=20240101-20240131",
			matches: []store.Match{{Tag: date, Value: "20240101-20240131"}}},
		{name: "open date ranges", raw: "StudyDate=-20240131&PatientBirthDate=19500101-",
			matches: []store.Match{{Tag: dicom.TagPatientBirthDate, Value: "19500101-"}, {Tag: date, Value: "-20240131"}}},
		{name: "time range", raw: "StudyTime=0800-123000.5",
			matches: []store.Match{{Tag: dicom.TagStudyTime, Value: "0800-123000.5"}}},
		{name: "DT range with negative offsets", raw: "AcquisitionDateTime=20240101-0500-20240102-0500",
			matches: []store.Match{{Tag: 0x0008002A, Value: "20240101-0500-20240102-0500"}}},
		{name: "integer", raw: "SeriesNumber=3",
			matches: []store.Match{{Tag: dicom.TagSeriesNumber, Value: "3"}}},
		{name: "universal matching returns the key", raw: "PatientName=",
			matches: []store.Match{{Tag: pn, Value: ""}},
			check: func(t *testing.T, r *searchRequest) {
				if !r.returnKeys["00100010"] {
					t.Error("PatientName not returned")
				}
			}},
		{name: "paging and fuzzy", raw: "limit=10&offset=5&fuzzymatching=TRUE",
			check: func(t *testing.T, r *searchRequest) {
				if r.limit != 10 || r.offset != 5 || !r.fuzzy {
					t.Errorf("limit %d offset %d fuzzy %v", r.limit, r.offset, r.fuzzy)
				}
			}},
		{name: "includefield lists", raw: "includefield=PatientAge,00081030&includefield=SeriesDescription&includefield=",
			check: func(t *testing.T, r *searchRequest) {
				want := map[string]bool{"00101010": true, "00081030": true, "0008103E": true}
				if !reflect.DeepEqual(r.returnKeys, want) || r.includeAll {
					t.Errorf("returnKeys %v all %v", r.returnKeys, r.includeAll)
				}
			}},
		{name: "includefield keyword of a derived attribute", raw: "includefield=AvailableTransferSyntaxUID",
			check: func(t *testing.T, r *searchRequest) {
				if !r.returnKeys["00083002"] || len(r.returnKeys) != 1 {
					t.Errorf("returnKeys %v", r.returnKeys)
				}
			}},
		{name: "includefield all", raw: "includefield=all",
			check: func(t *testing.T, r *searchRequest) {
				if !r.includeAll {
					t.Error("includeAll not set")
				}
			}},
		{name: "includefield sequence path", raw: "includefield=RequestAttributesSequence.ScheduledProcedureStepID",
			check: func(t *testing.T, r *searchRequest) {
				if !r.returnKeys["00400275"] {
					t.Errorf("returnKeys %v", r.returnKeys)
				}
			}},
		{name: "accept parameter", raw: "accept=application%2Fjson",
			check: func(t *testing.T, r *searchRequest) {
				if r.accept != "application/json" {
					t.Errorf("accept %q", r.accept)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseSearch(tt.raw)
			if err != nil {
				t.Fatalf("parseSearch(%q): %v", tt.raw, err)
			}
			if tt.matches != nil && !reflect.DeepEqual(r.matches, tt.matches) {
				t.Errorf("matches %+v, want %+v", r.matches, tt.matches)
			}
			for _, m := range tt.matches {
				if !r.returnKeys[m.Tag.Hex()] {
					t.Errorf("matching key %s not returned", m.Tag)
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestParseSearchRejects(t *testing.T) {
	tests := []struct {
		raw, msg string // msg: a fragment the 400 message must contain
	}{
		{"foo=bar", `unknown query parameter "foo"`},
		{"PatientsName=x", `unknown query parameter "PatientsName"`},
		{"=x", `unknown query parameter ""`},
		{"PatientName=a&00100010=b", "more than once"},
		{"PatientName=a&PatientName=b", "given 2 times"},
		{"%zz=1", "malformed query string"},
		{"a=1;b=2", "malformed query string"},
		{"PatientName=%B7%F1", "not UTF-8"},
		{"limit=0", "limit must be a positive integer"},
		{"limit=-1", "limit must be a positive integer"},
		{"limit=ten", "limit must be a positive integer"},
		{"limit=", "limit must be a positive integer"},
		{"limit=1&limit=2", "given 2 times"},
		{"offset=-1", "offset must be a non-negative integer"},
		{"fuzzymatching=yes", "fuzzymatching must be true or false"},
		{"includefield=Nonsense", `"Nonsense" is not a DICOM keyword or tag`},
		{"includefield=PatientName.Bogus", `"Bogus" is not a DICOM keyword or tag`},
		{"StudyInstanceUID=1.2.*", "does not allow wildcards"},
		{"StudyInstanceUID=1.2.3,,1.2.4", "not a UID"},
		{"StudyInstanceUID=1.2.abc", "not a UID"},
		{"StudyInstanceUID=" + strings.Repeat("1.", 40) + "1", "not a UID"},
		{"StudyDate=2024-01-01", "not a date"},
		{"StudyDate=20241301", "not a date"},
		{"StudyDate=-", "not a date"},
		{"StudyDate=2024*", "does not allow wildcards"},
		{"StudyTime=2500", "not a time"},
		{"AcquisitionDateTime=20240101120000+0800", "%2B"},
		{"SeriesNumber=three", "not an integer"},
		{"PatientWeight=heavy", "not a number"},
		{"RequestAttributesSequence.ScheduledProcedureStepID=1", "inside sequences"},
		{"RequestAttributesSequence=1", "not supported"},
		{"PixelData=1", "not supported"},
		{"00091010=x", "private or unknown"},
		{"PatientName=a%0Ab", "control character"},
		{"PatientName=" + strings.Repeat("a", maxValueLen+1), "too long"},
		{strings.Repeat("PatientName=a&", 300), "too many query parameters"},
	}
	for _, tt := range tests {
		t.Run(short(tt.raw), func(t *testing.T) {
			_, err := parseSearch(tt.raw)
			he := asHTTPError(t, err, http.StatusBadRequest)
			if msg, _ := he.Message.(string); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not contain %q", msg, tt.msg)
			}
		})
	}
}

// FuzzParseSearch: no query string panics the parser, and whatever it accepts is what the
// index is promised: UTF-8, bounded, UIDs in '\'-separated form, no control characters.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{
		"PatientName=%E5%BC%A0*&includefield=all&limit=10&offset=2&fuzzymatching=true",
		"StudyInstanceUID=1.2.3,1.2.4&StudyDate=20240101-",
		"AcquisitionDateTime=20240101-0500-&accept=application/json",
		"includefield=RequestAttributesSequence.ScheduledProcedureStepID,00081030",
		"%zz", "a=1;b", "=", "&&&",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := parseSearch(raw)
		if err != nil {
			asHTTPError(t, err, http.StatusBadRequest)
			return
		}
		if r.limit < 0 || r.offset < 0 || len(r.matches) > maxQueryParams {
			t.Fatalf("limit %d offset %d matches %d", r.limit, r.offset, len(r.matches))
		}
		for _, m := range r.matches {
			if !utf8.ValidString(m.Value) || len(m.Value) > maxValueLen {
				t.Fatalf("value %q", m.Value)
			}
			for _, c := range []byte(m.Value) {
				if c < 0x20 {
					t.Fatalf("control character in %q", m.Value)
				}
			}
			if info, _ := dicom.LookupTag(m.Tag); info.VR == "UI" {
				for _, u := range strings.Split(m.Value, `\`) {
					if m.Value != "" && !dicom.ValidUID(u, dicom.UIDLeadingZeros) {
						t.Fatalf("UID %q passed", u)
					}
				}
			}
		}
	})
}

func TestShapeResult(t *testing.T) {
	// What the index returns for an instance-level search: every level's attributes.
	full := dicom.JSONDataset{
		"00080005": {VR: "CS", Value: []any{"GB18030"}},
		"00080016": {VR: "UI", Value: []any{"1.2.840.10008.5.1.4.1.1.1.1"}},
		"00080018": {VR: "UI", Value: []any{"1.2.3.3"}},
		"00080020": {VR: "DA", Value: []any{"20240102"}},
		"00080060": {VR: "CS", Value: []any{"DX"}},
		"00081030": {VR: "LO", Value: []any{"Chest"}},
		"00100010": {VR: "PN", Value: []any{map[string]string{"Alphabetic": "Zhang^Wei"}}},
		"00101010": {VR: "AS", Value: []any{"045Y"}},
		"0020000D": {VR: "UI", Value: []any{"1.2.3"}},
		"0020000E": {VR: "UI", Value: []any{"1.2.3.2"}},
		"00200013": {VR: "IS", Value: []any{float64(1)}},
		"00280010": {VR: "US", Value: []any{float64(512)}},
	}
	keys := func(ds dicom.JSONDataset) []string {
		var out []string
		for k := range ds {
			out = append(out, k)
		}
		return sortedCopy(out)
	}
	const base = "http://pacsd.test/dicomweb"
	tests := []struct {
		name   string
		target searchTarget
		raw    string
		want   []string
		url    string
	}{
		{"study defaults", searchStudies, "", []string{"00080020", "00080056", "00081190", "00100010", "0020000D"},
			base + "/studies/1.2.3"},
		{"study includefield and match", searchStudies, "includefield=00081030&PatientAge=045Y",
			[]string{"00080020", "00080056", "00081030", "00081190", "00100010", "00101010", "0020000D"}, base + "/studies/1.2.3"},
		{"series in study", searchStudySeries, "", []string{"00080060", "00081190", "0020000E"},
			base + "/studies/1.2.3/series/1.2.3.2"},
		{"all series add study attributes", searchAllSeries, "",
			[]string{"00080020", "00080056", "00080060", "00081190", "00100010", "0020000D", "0020000E"},
			base + "/studies/1.2.3/series/1.2.3.2"},
		{"instances in series", searchSeriesInstances, "",
			[]string{"00080016", "00080018", "00080056", "00081190", "00200013", "00280010"},
			base + "/studies/1.2.3/series/1.2.3.2/instances/1.2.3.3"},
		{"all", searchSeriesInstances, "includefield=all", append(keys(full), "00080056", "00081190"),
			base + "/studies/1.2.3/series/1.2.3.2/instances/1.2.3.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := parseSearch(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			got := shapeResult(tt.target, req, full, base)
			if k := keys(got); !reflect.DeepEqual(k, sortedCopy(tt.want)) {
				t.Errorf("keys %v, want %v", k, sortedCopy(tt.want))
			}
			if u := got.String(dicom.TagRetrieveURL); u != tt.url {
				t.Errorf("RetrieveURL %q, want %q", u, tt.url)
			}
			if cs, ok := got["00080005"]; ok && cs.Value[0] != "ISO_IR 192" {
				t.Errorf("Specific Character Set %v: the JSON is UTF-8", cs.Value)
			}
		})
	}
}

// sortedCopy sorts and deduplicates ("all" lists keys the shaper also adds).
func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		name   string
		public string
		remote string
		host   string
		hdr    map[string]string
		want   string
	}{
		{"request host", "", "192.0.2.1:1234", "pacs.local:8080", nil, "http://pacs.local:8080/dicomweb"},
		{"public URL wins", "https://pacs.example/county1/", "127.0.0.1:1", "ignored", nil, "https://pacs.example/county1/dicomweb"},
		{"trusted proxy", "", "10.0.0.5:4000", "backend:8080",
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pacs.example"}, "https://pacs.example/dicomweb"},
		{"last forwarded host", "", "127.0.0.1:4000", "backend",
			map[string]string{"X-Forwarded-Host": "evil.example, pacs.example"}, "http://pacs.example/dicomweb"},
		{"untrusted peer ignored", "", "192.0.2.1:1234", "pacs.local",
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}, "http://pacs.local/dicomweb"},
		{"malformed forwarded host ignored", "", "127.0.0.1:1", "pacs.local",
			map[string]string{"X-Forwarded-Host": "evil.example/path?"}, "http://pacs.local/dicomweb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo.New()
			s := &server{publicURL: strings.TrimRight(tt.public, "/"), prefix: "/dicomweb"}
			req := httptest.NewRequest(http.MethodGet, "/dicomweb/studies", nil)
			req.RemoteAddr, req.Host = tt.remote, tt.host
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			c := e.NewContext(req, httptest.NewRecorder())
			if got := s.baseURL(c); got != tt.want {
				t.Errorf("baseURL = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestQIDOAvailableTransferSyntax: instance-level answers carry Available Transfer Syntax
// UID (0008,3002) with one value, the syntax the object is stored in, by default and when
// named in includefield, in JSON and in XML. Series and study answers do not, even when it
// is named (PS3.18 10.6.3.3.1-2: instance-level attributes in includefield are not
// returned). It is a matching key of instance-level searches.
func TestQIDOAvailableTransferSyntax(t *testing.T) {
	f := newFixture(t)
	key := dicom.TagAvailableTransferSyntaxUID.Hex()
	stored := map[string]string{} // SOP Instance UID -> transfer syntax, from testdata/expected.json
	for _, name := range f.filesWhere(func(e expectedFile) bool { return e.TransferSyntaxUID != "" }) {
		e := f.expected[name]
		stored[e.SOPInstanceUID] = e.TransferSyntaxUID
	}
	if len(stored) < 10 {
		t.Fatalf("only %d test objects with a known transfer syntax", len(stored))
	}
	// checkAll holds every result to its stored syntax and returns the SOP Instance UIDs seen.
	checkAll := func(t *testing.T, q string, res []dicom.JSONDataset) map[string]bool {
		t.Helper()
		if len(res) == 0 {
			t.Fatalf("%s: no results", q)
		}
		seen := map[string]bool{}
		for _, ds := range res {
			sop := ds.String(dicom.TagSOPInstanceUID)
			seen[sop] = true
			a, ok := ds[key]
			if !ok {
				t.Fatalf("%s: instance %s has no Available Transfer Syntax UID: %v", q, sop, ds)
			}
			if a.VR != "UI" || len(a.Value) != 1 {
				t.Fatalf("%s: instance %s: Available Transfer Syntax UID %+v, want one UI value", q, sop, a)
			}
			if want, known := stored[sop]; known && a.Value[0] != want {
				t.Errorf("%s: instance %s: Available Transfer Syntax UID %v, stored as %s", q, sop, a.Value[0], want)
			}
		}
		return seen
	}

	t.Run("default", func(t *testing.T) {
		res, _ := f.qido(t, "/instances?limit=1000")
		seen := checkAll(t, "/instances", res)
		for sop := range stored {
			if !seen[sop] {
				t.Errorf("instance %s not found", sop)
			}
		}
		syntaxes := map[any]bool{}
		for _, ds := range res {
			syntaxes[ds[key].Value[0]] = true
		}
		if len(syntaxes) < 5 {
			t.Errorf("%d distinct syntaxes over the corpus: %v", len(syntaxes), syntaxes)
		}
	})

	gb := f.expected["dr_mono2.dcm"]
	for _, tc := range []struct{ name, q string }{
		{"study's instances", "/studies/" + gb.StudyInstanceUID + "/instances"},
		{"series' instances", "/studies/" + gb.StudyInstanceUID + "/series/" + gb.SeriesInstanceUID + "/instances"},
		{"includefield keyword", "/instances?includefield=AvailableTransferSyntaxUID&SOPInstanceUID=" + gb.SOPInstanceUID},
		{"includefield tag", "/instances?includefield=00083002&SOPInstanceUID=" + gb.SOPInstanceUID},
		{"includefield all", "/instances?includefield=all&SOPInstanceUID=" + gb.SOPInstanceUID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			res, _ := f.qido(t, q)
			if !checkAll(t, q, res)[gb.SOPInstanceUID] {
				t.Errorf("%s: instance %s not found", q, gb.SOPInstanceUID)
			}
		})
	}

	t.Run("not above the instance level", func(t *testing.T) {
		for _, q := range []string{"/series", "/series?includefield=AvailableTransferSyntaxUID", "/series?includefield=all",
			"/studies/" + gb.StudyInstanceUID + "/series?includefield=00083002", "/studies?includefield=AvailableTransferSyntaxUID"} {
			res, _ := f.qido(t, q)
			for _, ds := range res {
				if a, ok := ds[key]; ok {
					t.Errorf("%s: Available Transfer Syntax UID %+v in a result above the instance level", q, a)
				}
			}
		}
	})

	t.Run("matching", func(t *testing.T) {
		jpeg, le := dicom.JPEGBaseline8Bit, dicom.ExplicitVRLittleEndian
		for _, want := range [][]string{{jpeg}, {jpeg, le}} {
			q := "/instances?limit=1000&AvailableTransferSyntaxUID=" + strings.Join(want, ",")
			res, _ := f.qido(t, q)
			checkAll(t, q, res)
			for _, ds := range res {
				if got := ds.String(dicom.TagAvailableTransferSyntaxUID); !slices.Contains(want, got) {
					t.Errorf("%s found an instance stored as %s", q, got)
				}
			}
			n := 0
			for _, ts := range stored {
				if slices.Contains(want, ts) {
					n++
				}
			}
			if len(res) != n {
				t.Errorf("%s: %d results, %d objects stored so", q, len(res), n)
			}
		}
		r := get(t, http.MethodGet, f.url+"/dicomweb/series?AvailableTransferSyntaxUID="+jpeg, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("series-level match: %d %s", r.status, r.body)
		}
	})

	t.Run("XML", func(t *testing.T) {
		q := "/studies/" + gb.StudyInstanceUID + "/series/" + gb.SeriesInstanceUID + "/instances"
		r := get(t, http.MethodGet, f.url+"/dicomweb"+q, map[string]string{"Accept": `multipart/related; type="application/dicom+xml"`})
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		docs := xmlParts(t, r)
		if len(docs) == 0 {
			t.Fatalf("%s: no XML parts", q)
		}
		for i, doc := range docs {
			m := parseNativeXML(t, doc)
			sop := m.attr(dicom.TagSOPInstanceUID.Hex())
			a := m.attr(key)
			if sop == nil || len(sop.Value) != 1 {
				t.Fatalf("part %d: no SOP Instance UID", i)
			}
			if a == nil || a.VR != "UI" || len(a.Value) != 1 || a.Value[0].Text != stored[sop.Value[0].Text] {
				t.Errorf("part %d (%s): Available Transfer Syntax UID %+v, stored as %s", i, sop.Value[0].Text, a, stored[sop.Value[0].Text])
			}
		}
	})
}
