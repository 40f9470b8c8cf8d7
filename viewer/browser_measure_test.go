package viewer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/internal/browsertest"
	"pacsd/reading"
	"pacsd/reading/sr"
	"pacsd/store"
)

// measurementsReply is GET/PUT's answer.
type measurementsReply struct {
	Version  int                  `json:"version"`
	Items    []reading.Annotation `json:"items"`
	Object   string               `json:"object"`
	Editable bool                 `json:"editable"`
}

func decodeMeasurements(t *testing.T, body string) measurementsReply {
	t.Helper()
	var m measurementsReply
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("measurements reply %q: %v", body, err)
	}
	return m
}

// TestMeasurementsAPI: a radiologist saves a study's measurements; each save is stored into
// the study as a new measurement SR (found over QIDO-RS by modality and SOP Class, the
// second naming the first as its predecessor); the site's user reads them but may not save;
// another site's user gets nothing; stale saves, images of other studies, and saves
// without the CSRF token are refused.
func TestMeasurementsAPI(t *testing.T) {
	k := newKeyEnv(t) // every diagnosis feature on, audited; sites A and B, doc, town-a, town-b
	en, dr, us := k.env, k.dr, k.us
	path := "/api/studies/" + dr.StudyInstanceUID + "/measurements"

	doc := en.login("doc", "password-doc")
	resp, body := doc.get(path, "application/json")
	if m := decodeMeasurements(t, body); resp.StatusCode != http.StatusOK || m.Version != 0 || len(m.Items) != 0 || !m.Editable {
		t.Fatalf("GET before any save: %d %s", resp.StatusCode, body)
	}
	item := func(sop string, frame int) string {
		return fmt.Sprintf(`{"kind":"length","sop":%q,"frame":%d,"points":[{"x":10,"y":20},{"x":110,"y":20}],`+
			`"calibration":"PixelSpacing","length":14.3}`, sop, frame)
	}
	save := func(c *client, version int, items ...string) (*http.Response, string) {
		return c.sendJSON(http.MethodPut, path, fmt.Sprintf(`{"version":%d,"items":[%s]}`, version, strings.Join(items, ",")))
	}

	noCSRF := *doc
	noCSRF.csrf = ""
	if resp, _ := save(&noCSRF, 0, item(dr.SOPInstanceUID, 0)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("save without the CSRF token: %d", resp.StatusCode)
	}
	if resp, body := save(doc, 0, item(us.SOPInstanceUID, 0)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a measurement on another study's image: %d %s", resp.StatusCode, body)
	}

	resp, body = save(doc, 0, item(dr.SOPInstanceUID, 0))
	first := decodeMeasurements(t, body)
	if resp.StatusCode != http.StatusOK || first.Version != 1 || first.Object == "" || len(first.Items) != 1 {
		t.Fatalf("first save: %d %s", resp.StatusCode, body)
	}
	if a := first.Items[0]; !dicom.ValidUID(a.ID, dicom.UIDStrict) || a.SeriesUID != dr.SeriesInstanceUID || a.SOPClassUID != dr.SOPClassUID {
		t.Errorf("saved item %+v: ID, series and SOP Class must be the server's", a)
	}
	if resp, body := save(doc, 0, item(dr.SOPInstanceUID, 0)); resp.StatusCode != http.StatusConflict {
		t.Errorf("a save from a stale version: %d %s", resp.StatusCode, body)
	}
	// The second save keeps the first item (by its ID) and adds one.
	kept, _ := json.Marshal(first.Items[0])
	resp, body = save(doc, 1, string(kept), strings.Replace(item(dr.SOPInstanceUID, 0), `"length"`, `"arrow"`, 1))
	second := decodeMeasurements(t, body)
	if resp.StatusCode != http.StatusOK || second.Version != 2 || second.Object == "" || second.Object == first.Object ||
		len(second.Items) != 2 || second.Items[0].ID != first.Items[0].ID {
		t.Fatalf("second save: %d %s", resp.StatusCode, body)
	}

	// Both SRs are in the study over QIDO-RS, one series; the second supersedes the first.
	resp, body = doc.get("/dicomweb/studies/"+dr.StudyInstanceUID+"/instances?Modality=SR&SOPClassUID="+
		sr.ComprehensiveSRStorage, "application/dicom+json")
	var found []dicom.JSONDataset
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &found) != nil || len(found) != 2 {
		t.Fatalf("QIDO-RS for the measurement SRs: %d %s", resp.StatusCode, body)
	}
	series := map[string]bool{}
	for _, ds := range found {
		series[ds.String(dicom.TagSeriesInstanceUID)] = true
		if uid := ds.String(dicom.TagSOPInstanceUID); uid != first.Object && uid != second.Object {
			t.Errorf("QIDO-RS found %s, neither save's SR", uid)
		}
	}
	if len(series) != 1 {
		t.Errorf("the measurement SRs are in %d series, want one", len(series))
	}
	_, rc, err := en.archive.Open(context.Background(), second.Object)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	if !bytes.Contains(buf.Bytes(), []byte(first.Object)) {
		t.Error("the second SR does not name the first (Predecessor Documents Sequence)")
	}

	// The site's user sees them, read-only; the other site's user does not.
	townA := en.login("town-a", "password-town-a")
	resp, body = townA.get(path, "application/json")
	if m := decodeMeasurements(t, body); resp.StatusCode != http.StatusOK || m.Version != 2 || len(m.Items) != 2 || m.Editable {
		t.Errorf("site A's user: %d %s", resp.StatusCode, body)
	}
	if resp, _ := save(townA, 2); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a site user's save: %d", resp.StatusCode)
	}
	townB := en.login("town-b", "password-town-b")
	if resp, body := townB.get(path, "application/json"); resp.StatusCode != http.StatusNotFound || strings.Contains(body, first.Items[0].ID) {
		t.Errorf("site B's user: %d %s", resp.StatusCode, body)
	}
	if got, err := en.idx.Reading().Annotations(context.Background(), dr.StudyInstanceUID); err != nil || got.Version != 2 {
		t.Errorf("the repository's set after the refused saves: %+v (%v)", got, err)
	}
	// Each save is in the audit trail, on the study, saying how many; refused ones are not.
	evs := events(t, en.idx.Audit(), audit.Filter{Actions: []audit.Action{audit.ActionMeasure}})
	if len(evs) != 2 {
		t.Fatalf("%d measurement events, want one per save: %+v", len(evs), evs)
	}
	for _, ev := range evs {
		if ev.StudyUID != dr.StudyInstanceUID || ev.Actor.UserName != "doc" || !strings.Contains(ev.Detail, "项测量与标注") {
			t.Errorf("audit event %+v", ev)
		}
	}
}

// TestMeasureInBrowser runs browsertest/measure.mjs: a radiologist measures a length on a
// calibrated DR (synthetic, Pixel Spacing 0.2 mm: the value shown is the pixels' distance
// times 0.2, with 像素间距 as its source), draws a rectangle ROI, saves, reloads and sees
// both again; the site's user sees them read-only. Then the server's side: the stored
// values are the image's (the ROI's mean and SD recomputed here from the pixels), and the
// measurement SR is in the study.
func TestMeasureInBrowser(t *testing.T) {
	browsertest.Require(t)
	en := newKeyEnv(t).env
	const studyUID, seriesUID, sop = "2.25.83001", "2.25.83001.1", "2.25.83001.1.1"
	const w, h, spacing = 1000, 800, 0.2
	img := withElements(t, syntheticDR(t, studyUID, seriesUID, sop, "孙测量", w, h),
		elem{0x00280030, "DS", `0.2\0.2`, nil}, elem{0x0008103E, "LO", "胸部正位", nil})
	if _, err := en.archive.Put(context.Background(), bytes.NewReader(img), store.PutRequest{
		Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN_A"}}); err != nil {
		t.Fatal(err)
	}
	// The same picture without any calibration, twice, in a study from the same site.
	for _, n := range []string{"1", "2"} {
		b := syntheticDR(t, "2.25.83002", "2.25.83002."+n, "2.25.83002."+n+".1", "孙测量", 800, 600)
		if _, err := en.archive.Put(context.Background(), bytes.NewReader(b), store.PutRequest{
			Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN_A"}}); err != nil {
			t.Fatal(err)
		}
	}
	sc, _ := json.Marshal(map[string]any{
		"uncalibrated": "2.25.83002",
		"doc":          map[string]string{"username": "doc", "password": "password-doc"},
		"town":         map[string]string{"username": "town-a", "password": "password-town-a"},
		"study":        studyUID, "spacing": spacing, "source": "像素间距",
		// Image points (column, row) the radiologist drags between.
		"length":  [][2]float64{{150, 200}, {450, 600}}, // 500 px: 100 mm
		"length2": [][2]float64{{150, 250}, {450, 650}},
		"rect":    [][2]float64{{600, 300}, {800, 450}},
		"angle":   [][2]float64{{100, 700}, {300, 700}, {300, 500}}, "angleDegrees": 90,
		// Lines 0° and atan(100/200) apart.
		"cobb": [][2]float64{{500, 550}, {700, 550}, {500, 750}, {700, 650}}, "cobbDegrees": math.Atan2(100, 200) * 180 / math.Pi,
		"text": "右下肺结节", "textAt": [2]float64{850, 700},
	})
	res := browsertest.Run(t, "measure.mjs", browsertest.Options{
		BaseURL: en.srv.URL,
		Env:     map[string]string{"MEASURE_SCENARIO": string(sc)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"radiologist opens the calibrated DR",
		"radiologist measures a length: pixels times Pixel Spacing, source shown",
		"radiologist draws a rectangle ROI: mean, SD and area",
		"angle, Cobb angle and text; a selected measurement goes with Delete",
		"radiologist saves the measurements",
		"after a reload the measurements are there again",
		"a save over another radiologist's keeps both: theirs loaded, the new one saved again",
		"on an uncalibrated DR a length is in px, marked 未校准; the list goes to its image",
		"the site's user sees the measurements, read-only",
		"no failed requests",
	)

	ctx := context.Background()
	s, err := en.idx.Reading().Annotations(ctx, studyUID)
	if err != nil || s.Version != 3 || len(s.Items) != 5 || s.SOPInstanceUID == "" {
		t.Fatalf("saved set %+v (%v)", s, err)
	}
	for _, a := range s.Items {
		p := a.Points
		switch a.Kind {
		case reading.AnnotLength:
			want := math.Hypot(p[1].X-p[0].X, p[1].Y-p[0].Y) * spacing
			if a.Length == nil || math.Abs(*a.Length-want) > 1e-6 || math.Abs(want-100) > 1 || a.Calibration != reading.CalPixelSpacing {
				t.Errorf("length %+v: want %.3f mm from its points (about 100)", a, want)
			}
		case reading.AnnotRect:
			// The pixels whose centres are inside, from the object's own pixel data.
			px := img[len(img)-2*w*h:]
			var n, sum, sq float64
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					cx, cy := float64(x)+0.5, float64(y)+0.5
					if cx < min(p[0].X, p[1].X) || cx > max(p[0].X, p[1].X) || cy < min(p[0].Y, p[1].Y) || cy > max(p[0].Y, p[1].Y) {
						continue
					}
					v := float64(binary.LittleEndian.Uint16(px[2*(y*w+x):]))
					n, sum, sq = n+1, sum+v, sq+v*v
				}
			}
			mean := sum / n
			sd := math.Sqrt(sq/n - mean*mean)
			area := math.Abs(p[1].X-p[0].X) * math.Abs(p[1].Y-p[0].Y) * spacing * spacing
			if a.Mean == nil || a.SD == nil || a.Area == nil || math.Abs(*a.Mean-mean) > 0.01 || math.Abs(*a.SD-sd) > 0.01 ||
				math.Abs(*a.Area-area) > 1e-6 {
				t.Errorf("ROI %+v: want mean %.3f, SD %.3f, area %.3f mm² over %v pixels", a, mean, sd, area, n)
			}
		case reading.AnnotCobb:
			if a.Angle == nil || math.Abs(*a.Angle-26.565) > 1 {
				t.Errorf("Cobb angle %+v: want about 26.6°", a)
			}
		case reading.AnnotText:
			if a.Text != "右下肺结节" {
				t.Errorf("text %+v", a)
			}
		default:
			t.Errorf("unexpected %s", a.Kind)
		}
	}
	doc := en.login("doc", "password-doc")
	resp, body := doc.get("/dicomweb/studies/"+studyUID+"/instances?Modality=SR", "application/dicom+json")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, s.SOPInstanceUID) || !strings.Contains(body, sr.ComprehensiveSRStorage) {
		t.Errorf("QIDO-RS for the measurement SR: %d %s", resp.StatusCode, body)
	}
}

// TestMeasurementsOff: a reading room without the repository (Config.Annotations nil) tells
// the page there are no measurements, and offers no way to save any.
func TestMeasurementsOff(t *testing.T) {
	en := newEnv(t)
	en.user("doc", reading.RoleRadiologist, 0)
	dr := en.put("dr_mono2.dcm", "TOWN_A")
	doc := en.login("doc", "password-doc")
	path := "/api/studies/" + dr.StudyInstanceUID + "/measurements"
	resp, body := doc.get(path, "application/json")
	if m := decodeMeasurements(t, body); resp.StatusCode != http.StatusOK || m.Version != 0 || len(m.Items) != 0 || m.Editable {
		t.Errorf("GET: %d %s", resp.StatusCode, body)
	}
	if resp, _ := doc.sendJSON(http.MethodPut, path, `{"version":0,"items":[]}`); resp.StatusCode < 400 {
		t.Errorf("PUT: %d", resp.StatusCode)
	}
}
