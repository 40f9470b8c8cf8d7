package viewer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/browsertest"
	"pacsd/reading"
	"pacsd/store"
)

// TestViewerInBrowser runs browsertest/viewer_display.mjs: the image viewer as a radiologist
// reads with it. A chest DR with PA (3000x3000, Imager Pixel Spacing) and lateral hangs side
// by side; the overlay says who (王建国, 47岁, 男), when (Beijing time) and where; the full
// 3000x3000 frame replaces the preview; orientation markers follow flip and rotation; the
// scale bar matches the spacing, an uncalibrated DR says 未校准; layouts by button and key; a
// series dragged into a pane; a prior opened beside it with the window linked and unlinked;
// an ultrasound plays at its file's Cine Rate and steps by keys; the help lists the keys in
// Chinese; the contract (window.PacsViewer) answers for an added tool; at 390x844 with touch
// the viewer comes first, a swipe turns the image and a pinch zooms, and the worklist fits.
func TestViewerInBrowser(t *testing.T) {
	browsertest.Require(t)
	en := newEnvWith(t, allRepos) // every part of the study page on, as pacsd serve has it
	en.admin()
	ctx := context.Background()
	site, err := en.idx.Reading().PutSite(ctx, reading.Site{Name: "甲镇卫生院", AETitles: []string{"TOWN_A"}})
	if err != nil {
		t.Fatal(err)
	}
	en.user("doc", reading.RoleRadiologist, 0)
	en.user("town", reading.RoleSite, site.ID)
	vs := putViewingStudies(t, en.archive)
	us := en.put("us_multiframe.dcm", "TOWN_A")

	sc := map[string]any{
		"doc":  map[string]string{"username": "doc", "password": "password-doc"},
		"town": map[string]string{"username": "town", "password": "password-town"},
		"current": map[string]any{"uid": vs.current, "pa": vs.pa, "lat": vs.lat, "latSeries": vs.latSeries,
			"spacing": 0.143, "columns": 3000, "rows": 3000},
		"prior":        map[string]string{"uid": vs.prior, "date": "2025-03-01"},
		"uncalibrated": map[string]string{"uid": vs.uncalibrated},
		"us":           map[string]any{"uid": us.StudyInstanceUID, "cineRate": 25},
		"patient": map[string]string{"name": "王建国", "id": "P0001", "age": "47岁", "sex": "男",
			"date": "2026-03-02 09:30", "institution": "城关镇卫生院"},
	}
	scJSON, _ := json.Marshal(sc)
	res := browsertest.Run(t, "viewer_display.mjs", browsertest.Options{
		BaseURL: en.srv.URL,
		Env:     map[string]string{"VIEWER_DISPLAY_SCENARIO": string(scJSON)},
		Timeout: 4 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"a DR study with PA and lateral hangs side by side",
		"the overlay names the patient, age, sex, date, institution, image and window",
		"the 3000x3000 frame is shown at full resolution after the preview",
		"orientation markers follow flip and rotation",
		"the scale bar matches the pixel spacing; an uncalibrated image says so",
		"layouts by button and key",
		"a series dragged from the strip into a pane",
		"a prior opens beside the current study, window and zoom linked, then unlinked",
		"the ultrasound plays at the file's cine rate and steps frames by key",
		"rotate, magnifier, 1:1 and invert",
		"the help lists the shortcuts and orientation letters in Chinese",
		"an added tool gets image coordinates through the contract",
		"phone 390x844: viewer first, swipe turns the image, tap-then-tap, pinch zooms",
		"phone 390x844: the worklist fits",
		"no page errors",
		"no failed requests",
	)
}

// viewingStudies are the objects of the viewer's browser test and benchmark.
type viewingStudies struct {
	current, pa, lat, latSeries, prior, priorSOP, uncalibrated string
}

// putViewingStudies stores a patient's chest DR (PA 3000x3000 with Imager Pixel Spacing and
// Patient Orientation L\F, lateral 1500x1800 with P\F), the same patient's prior PA a year
// earlier (Pixel Spacing) and another patient's uncalibrated DR, all from TOWN_A.
func putViewingStudies(t testing.TB, a *store.Archive) viewingStudies {
	return putViewingStudiesAt(t, a, "2.25.81000")
}

// putViewingStudiesAt is putViewingStudies with UIDs under prefix.
func putViewingStudiesAt(t testing.TB, a *store.Archive, prefix string) viewingStudies {
	t.Helper()
	vs := viewingStudies{current: prefix + "1", prior: prefix + "2", uncalibrated: prefix + "3"}
	vs.pa, vs.latSeries, vs.priorSOP = vs.current+".1.1", vs.current+".2", vs.prior+".1.1"
	vs.lat = vs.latSeries + ".1"
	patient := []elem{
		{0x00080080, "LO", "城关镇卫生院", nil}, {0x00100020, "LO", "P0001", nil}, {0x00101010, "AS", "047Y", nil},
	}
	put := func(b []byte) {
		t.Helper()
		if _, err := a.Put(context.Background(), bytes.NewReader(b), store.PutRequest{
			Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN_A"}}); err != nil {
			t.Fatal(err)
		}
	}
	put(withElements(t, syntheticDR(t, vs.current, vs.current+".1", vs.pa, "王建国", 3000, 3000), append(patient,
		elem{0x0008103E, "LO", "胸部正位", nil}, elem{0x00181164, "DS", `0.143\0.143`, nil}, elem{0x00185101, "CS", "PA", nil},
		elem{0x00200020, "CS", `L\F`, nil})...))
	put(withElements(t, syntheticDR(t, vs.current, vs.latSeries, vs.lat, "王建国", 1500, 1800), append(patient,
		elem{0x0008103E, "LO", "胸部侧位", nil}, elem{0x00181164, "DS", `0.143\0.143`, nil}, elem{0x00185101, "CS", "LL", nil},
		elem{0x00200011, "IS", "2", nil}, elem{0x00200020, "CS", `P\F`, nil})...))
	put(withElements(t, syntheticDR(t, vs.prior, vs.prior+".1", vs.priorSOP, "王建国", 1024, 1024), append(patient,
		elem{0x00080020, "DA", "20250301", nil}, elem{0x00280030, "DS", `0.4\0.4`, nil}, elem{0x00185101, "CS", "PA", nil},
		elem{0x00200020, "CS", `L\F`, nil})...))
	put(withElements(t, syntheticDR(t, vs.uncalibrated, vs.uncalibrated+".1", vs.uncalibrated+".1.1", "赵丽", 800, 600),
		elem{0x00100020, "LO", "P0002", nil}, elem{0x00100040, "CS", "F", nil}))
	return vs
}

// elem is one data element to set in a test object: a text value, or what write encodes
// (a sequence, a binary value).
type elem struct {
	tag   uint32
	vr    string
	value string
	write func(*dicom.Encoder)
}

// withElements sets text elements in an Explicit VR Little Endian Part-10 object (the test
// generators' output), replacing those present and keeping the data set in ascending tag
// order (PS3.5 7.1): a generator's object with a few attributes more or different.
func withElements(t testing.TB, obj []byte, set ...elem) []byte {
	t.Helper()
	const preamble = 132
	metaLen := int(binary.LittleEndian.Uint32(obj[preamble+8:]))
	dsStart := preamble + 12 + metaLen
	type raw struct {
		tag uint32
		b   []byte
	}
	var els []raw
	for off := dsStart; off < len(obj); {
		tag := uint32(binary.LittleEndian.Uint16(obj[off:]))<<16 | uint32(binary.LittleEndian.Uint16(obj[off+2:]))
		vr := string(obj[off+4 : off+6])
		var n, head int
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV":
			n, head = int(binary.LittleEndian.Uint32(obj[off+8:])), 12
		default:
			n, head = int(binary.LittleEndian.Uint16(obj[off+6:])), 8
		}
		if n == 0xFFFFFFFF || off+head+n > len(obj) {
			t.Fatalf("withElements: element %08X: undefined or overlong length", tag)
		}
		els = append(els, raw{tag, obj[off : off+head+n]})
		off += head + n
	}
	for _, e := range set {
		var buf bytes.Buffer
		enc, err := dicom.NewEncoder(&buf, dicom.ExplicitVRLittleEndian)
		if err != nil {
			t.Fatal(err)
		}
		if e.write != nil {
			e.write(enc)
		} else {
			v, err := dicom.EncodeText(e.value, []string{"ISO_IR 192"}, e.vr)
			if err != nil {
				t.Fatal(err)
			}
			enc.WriteElement(dicom.Tag(e.tag), e.vr, v)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		i := sort.Search(len(els), func(i int) bool { return els[i].tag >= e.tag })
		if i < len(els) && els[i].tag == e.tag {
			els[i].b = buf.Bytes()
		} else {
			els = append(els[:i], append([]raw{{e.tag, buf.Bytes()}}, els[i:]...)...)
		}
	}
	out := append([]byte(nil), obj[:dsStart]...)
	for _, e := range els {
		out = append(out, e.b...)
	}
	return out
}
