package ohif

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/dicom"
	"pacsd/dicomweb"
	"pacsd/store"
)

func TestNameForOHIF(t *testing.T) {
	for _, tt := range []struct {
		pn, want string
		ok       bool
	}{
		{"Zhang^Wei=张^伟", "张伟 (Zhang Wei)", true},
		{"Zhang^XiaoDong=张^小东=", "张小东 (Zhang XiaoDong)", true},
		{"=张^丽", "张丽", true},
		{"^=张^丽", "张丽", true},
		{"张伟", "张伟", true},      // characters in the alphabetic group, as many Chinese modalities send
		{"张^伟", "张伟", true},     // OHIF alone would show "张, 伟"
		{"欧阳^小张", "欧阳小张", true}, // compound surname
		{"张伟=张^伟", "张伟", true},
		{"Li^Zhang=李^张", "李张 (Li Zhang)", true},
		{"Wang^Fang^^Dr.=王^芳^^医生", "医生王芳 (Dr. Wang Fang)", true},
		{"Zhang^San", "", false},
		{"Müller^Jürgen", "", false},
		{"", "", false},
		{"Yamada^Tarou=山田^太郎=やまだ^たろう", "山田太郎 (Yamada Tarou)", true},
	} {
		got, ok := nameForOHIF(dicom.ParsePersonName(tt.pn))
		if got != tt.want || ok != tt.ok {
			t.Errorf("nameForOHIF(%q) = %q, %v; want %q, %v", tt.pn, got, ok, tt.want, tt.ok)
		}
		if strings.Contains(got, "^") {
			t.Errorf("nameForOHIF(%q) = %q has a '^', which OHIF shows as ', '", tt.pn, got)
		}
	}
}

// nameStudy is a one-instance study of a small greyscale picture (Secondary Capture,
// UTF-8) for patient name and id, written with pacsd's Part-10 writer.
func nameStudy(t testing.TB, study, patientID, name string) []byte {
	t.Helper()
	const w, h = 64, 64
	sop := study + ".1.1"
	var out bytes.Buffer
	if _, err := dicom.WriteFileMeta(&out, dicom.FileMeta{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
		SOPInstanceUID: sop, TransferSyntaxUID: dicom.ExplicitVRLittleEndian}); err != nil {
		t.Fatal(err)
	}
	enc, err := dicom.NewEncoder(&out, dicom.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	text := func(tag uint32, vr, s string) {
		b, err := dicom.EncodeText(s, []string{"ISO_IR 192"}, vr)
		if err != nil {
			t.Fatal(err)
		}
		enc.WriteElement(dicom.Tag(tag), vr, b)
	}
	text(0x00080005, "CS", "ISO_IR 192")
	text(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7")
	text(0x00080018, "UI", sop)
	text(0x00080020, "DA", "20260302")
	text(0x00080030, "TM", "101500")
	text(0x00080060, "CS", "OT")
	text(0x00081030, "LO", "胸部正位")
	text(0x00100010, "PN", name)
	text(0x00100020, "LO", patientID)
	text(0x0020000D, "UI", study)
	text(0x0020000E, "UI", study+".1")
	text(0x00200011, "IS", "1")
	text(0x00200013, "IS", "1")
	enc.WriteUint16(dicom.Tag(0x00280002), "US", 1)
	text(0x00280004, "CS", "MONOCHROME2")
	enc.WriteUint16(dicom.Tag(0x00280010), "US", h)
	enc.WriteUint16(dicom.Tag(0x00280011), "US", w)
	enc.WriteUint16(dicom.Tag(0x00280100), "US", 8)
	enc.WriteUint16(dicom.Tag(0x00280101), "US", 8)
	enc.WriteUint16(dicom.Tag(0x00280102), "US", 7)
	enc.WriteUint16(dicom.Tag(0x00280103), "US", 0)
	px := make([]byte, w*h)
	for i := range px {
		px[i] = byte((i%w)*3 + (i/w)*2)
	}
	enc.WriteElement(dicom.Tag(0x7FE00010), "OB", px)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// nameCase is a study the name tests store, with the text OHIF must show for its patient.
type nameCase struct {
	file, study, id, pn string // file: a committed test object; else generated from the rest
	shown               string // the name as OHIF shows it in the study list
}

// nameCases: 张 as surname, given name and inside a given name, in the ideographic group,
// alone, and in the alphabetic group; the committed GB 2312 (ISO 2022 IR 58) objects; a
// homophone (章) and a romanised name that pinyin finds and 张 does not; one that neither
// finds.
var nameCases = []nameCase{
	{study: "2.25.7100001", id: "ZH-01", pn: "Zhang^Wei=张^伟", shown: "张伟 (Zhang Wei)"},
	{study: "2.25.7100002", id: "ZH-02", pn: "=张^丽", shown: "张丽"},
	{study: "2.25.7100003", id: "ZH-03", pn: "Li^Zhang=李^张", shown: "李张 (Li Zhang)"},
	{study: "2.25.7100004", id: "ZH-04", pn: "王^张明", shown: "王张明"},
	{study: "2.25.7100005", id: "ZH-05", pn: "欧阳^小张", shown: "欧阳小张"},
	{study: "2.25.7100006", id: "ZH-06", pn: "Zhang^San", shown: "Zhang, San"},
	{study: "2.25.7100007", id: "ZH-07", pn: "章^伟", shown: "章伟"},
	{study: "2.25.7100008", id: "ZH-08", pn: "Li^Si=李^四", shown: "李四 (Li Si)"},
	{file: "charset_ir58.dcm", id: "CS-IR58", shown: "张伟 (Zhang Wei)"},
	{file: "charset_ir58_only.dcm", id: "CS-IR58-K2", shown: "张小东 (Zhang XiaoDong)"},
}

// putNameCases stores nameCases in a.
func putNameCases(t *testing.T, a *store.Archive) {
	t.Helper()
	for _, nc := range nameCases {
		var data []byte
		if nc.file != "" {
			var err error
			if data, err = os.ReadFile(filepath.Join("../testdata", nc.file)); err != nil {
				t.Fatal(err)
			}
		} else {
			data = nameStudy(t, nc.study, nc.id, nc.pn)
		}
		if _, err := a.Put(context.Background(), bytes.NewReader(data), store.PutRequest{}); err != nil {
			t.Fatalf("put %s: %v", nc.id, err)
		}
	}
}

// studyAnswer is a study search answer read back.
type studyAnswer struct {
	status int
	header http.Header
	items  []dicom.JSONDataset
}

func (a studyAnswer) patients() map[string]dicom.JSONAttribute {
	out := map[string]dicom.JSONAttribute{}
	for _, ds := range a.items {
		id, _ := ds["00100020"].Value[0].(string)
		out[id] = ds["00100010"]
	}
	return out
}

func getStudies(t *testing.T, u string, hdr map[string]string) studyAnswer {
	t.Helper()
	r := fetch(t, http.MethodGet, u, hdr)
	a := studyAnswer{status: r.status, header: r.header}
	body := r.body
	if r.header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	if r.status != http.StatusOK {
		return a
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("%s: %v: %.300s", u, err, body)
	}
	for _, m := range raw {
		ds, err := dicom.ParseJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		a.items = append(a.items, ds)
	}
	return a
}

// TestSearchRoot: OHIF's search root answers a study search with the studies and
// attributes /dicomweb answers, Person Names' alphabetic group as OHIF should show them;
// other searches pass through byte for byte, and DICOMweb's own access check still applies.
func TestSearchRoot(t *testing.T) {
	archive := newArchive(t)
	putNameCases(t, archive)
	e := echo.New()
	e.Use(middleware.Recover())
	// Stands for cmd/pacsd's staff check on the DICOMweb group: the search root must not
	// get around it.
	guard := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Header.Get("X-Test-Staff") != "yes" {
				return echo.ErrUnauthorized
			}
			return next(c)
		}
	}
	dicomweb.Register(e.Group("/dicomweb", guard), archive, dicomweb.Config{Logger: quietLogger()})
	Register(e, Config{Dir: fakeDist, DICOMwebPath: "/dicomweb", Logger: quietLogger()})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	staff := map[string]string{"X-Test-Staff": "yes", "Accept": "application/dicom+json", "Accept-Encoding": "identity"}

	if r := fetch(t, http.MethodGet, srv.URL+"/ohif/dicomweb/studies", nil); r.status != http.StatusUnauthorized {
		t.Errorf("without the DICOMweb group's credentials: status %d, want 401", r.status)
	}

	shown := map[string]string{}
	for _, nc := range nameCases {
		shown[nc.id] = nc.shown
	}
	for _, query := range []string{
		"PatientName=" + url.QueryEscape("*张*") + "&fuzzymatching=true&limit=101&offset=0&includefield=00081030,00080060",
		"PatientName=" + url.QueryEscape("张*"),
		"PatientName=*zhang*&fuzzymatching=true",
		"",
	} {
		// "identity": net/http would otherwise ask for gzip and unpack it unseen.
		for _, enc := range []string{"identity", "gzip"} {
			hdr := map[string]string{}
			for k, v := range staff {
				hdr[k] = v
			}
			hdr["Accept-Encoding"] = enc
			std := getStudies(t, srv.URL+"/dicomweb/studies?"+query, hdr)
			got := getStudies(t, srv.URL+"/ohif/dicomweb/studies?"+query, hdr)
			if std.status != http.StatusOK || got.status != http.StatusOK {
				t.Fatalf("%q: status %d and %d", query, std.status, got.status)
			}
			if len(std.items) == 0 {
				t.Fatalf("%q: no study matched", query)
			}
			if enc == "gzip" && got.header.Get("Content-Encoding") != "gzip" {
				t.Errorf("%q: the rewritten answer lost its gzip coding", query)
			}
			if len(got.items) != len(std.items) {
				t.Fatalf("%q: %d studies, /dicomweb answered %d", query, len(got.items), len(std.items))
			}
			stdNames := std.patients()
			for i, ds := range got.items {
				want := std.items[i]
				id, _ := ds["00100020"].Value[0].(string)
				for tag, attr := range want {
					if tag == "00100010" {
						continue
					}
					a, _ := json.Marshal(attr)
					b, _ := json.Marshal(ds[tag])
					if !bytes.Equal(a, b) {
						t.Errorf("%q %s: %s is %s, /dicomweb has %s", query, id, tag, b, a)
					}
				}
				if len(ds) != len(want) {
					t.Errorf("%q %s: %d attributes, /dicomweb has %d", query, id, len(ds), len(want))
				}
				pn, _ := ds["00100010"].Value[0].(map[string]string)
				std, _ := stdNames[id].Value[0].(map[string]string)
				if w, ok := shown[id]; ok {
					if ohif := formatPNLikeOHIF(pn["Alphabetic"]); ohif != w {
						t.Errorf("%q %s: OHIF would show %q (Alphabetic %q), want %q", query, id, ohif, pn["Alphabetic"], w)
					}
				}
				if pn["Ideographic"] != std["Ideographic"] || pn["Phonetic"] != std["Phonetic"] {
					t.Errorf("%q %s: groups %v, /dicomweb has %v", query, id, pn, std)
				}
			}
		}
	}

	// A series search and a metadata request come back as /dicomweb sends them.
	study := nameCases[0].study
	for _, p := range []string{"/studies/" + study + "/series", "/studies/" + study + "/series?includefield=all", "/studies/" + study + "/metadata"} {
		std := fetch(t, http.MethodGet, srv.URL+"/dicomweb"+p, staff)
		got := fetch(t, http.MethodGet, srv.URL+"/ohif/dicomweb"+p, staff)
		if std.status != http.StatusOK || got.status != std.status || got.body != std.body ||
			got.header.Get("Content-Type") != std.header.Get("Content-Type") {
			t.Errorf("%s: status %d %q, /dicomweb %d %q", p, got.status, got.header.Get("Content-Type"), std.status, std.header.Get("Content-Type"))
		}
	}
	// Errors are DICOMweb's.
	for _, q := range []string{"/studies?StudyDate=notadate", "/studies/1.2.3/nothing"} {
		std := fetch(t, http.MethodGet, srv.URL+"/dicomweb"+q, staff)
		got := fetch(t, http.MethodGet, srv.URL+"/ohif/dicomweb"+q, staff)
		if got.status != std.status || got.body != std.body || std.status < 400 {
			t.Errorf("%s: status %d %q, /dicomweb %d %q", q, got.status, got.body, std.status, std.body)
		}
	}
	// HEAD has the GET's headers and no body.
	get := fetch(t, http.MethodGet, srv.URL+"/ohif/dicomweb/studies", staff)
	head := fetch(t, http.MethodHead, srv.URL+"/ohif/dicomweb/studies", staff)
	if head.status != http.StatusOK || head.body != "" || head.header.Get("Content-Length") != get.header.Get("Content-Length") {
		t.Errorf("HEAD: status %d, Content-Length %q (GET %q), body %d bytes", head.status,
			head.header.Get("Content-Length"), get.header.Get("Content-Length"), len(head.body))
	}
	// Writes are not taken here: OHIF's STOW-RS goes to wadoRoot, pacsd's DICOMweb itself.
	if r := fetch(t, http.MethodPost, srv.URL+"/ohif/dicomweb/studies", staff); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", r.status)
	}
}

// formatPNLikeOHIF is what @ohif/core's formatPN (3.13) makes of an alphabetic group: the
// first '^' becomes ", ", the others spaces.
func formatPNLikeOHIF(alpha string) string {
	s := strings.Replace(alpha, "^", ", ", 1)
	return strings.TrimSpace(strings.ReplaceAll(s, "^", " "))
}

// TestRewriteNamesKeepsOthers: values that are not names, empty names and nested items are
// left as they are.
func TestRewriteNamesKeepsOthers(t *testing.T) {
	in := `[{"00080090":{"vr":"PN","Value":[{"Alphabetic":"Li^Ming","Ideographic":"李^明"},null,{}]},` +
		`"00100010":{"vr":"PN"},"00201208":{"vr":"IS","Value":[3]},` +
		`"0040A730":{"vr":"SQ","Value":[{"0040A123":{"vr":"PN","Value":[{"Ideographic":"王^芳"}]}}]}}]`
	out, err := rewriteNames([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"00080090":{"vr":"PN","Value":[{"Alphabetic":"李明 (Li Ming)","Ideographic":"李^明"},null,{}]},` +
		`"00100010":{"vr":"PN"},"00201208":{"vr":"IS","Value":[3]},` +
		`"0040A730":{"vr":"SQ","Value":[{"0040A123":{"vr":"PN","Value":[{"Ideographic":"王^芳"}]}}]}}]`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if _, err := rewriteNames([]byte(`{"not":"an array"}`)); err == nil {
		t.Error("an answer that is not a JSON array was accepted")
	}
}
