package viewer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/internal/peertest"
	"pacsd/store"
)

// keyEnv is a reading room with key images and priors: 甲镇卫生院 (TOWN_A) sent 张伟's chest
// DR (dr_mono2.dcm), his DR of a year before and 李娜's ultrasound cine (us_multiframe.dcm);
// 乙镇卫生院 (TOWN_B) sent a DR of a 张伟 with the same sex and birth date under its own
// Patient ID. Users: doc (radiologist), town-a and town-b (site users).
type keyEnv struct {
	*env
	dr, prior, us, other *store.Instance
}

func newKeyEnv(t *testing.T) *keyEnv {
	rec := &lateRecorder{t: t}
	en := newEnvWith(t, func(c *Config) {
		// The study page as cmd/pacsd serves it: every diagnosis feature on.
		allRepos(c)
		c.Audit, c.AuditLog = rec, rec
	})
	rec.set(en.idx.Audit())
	en.townships()
	k := &keyEnv{env: en}
	k.dr = en.put("dr_mono2.dcm", "TOWN_A")
	k.us = en.put("us_multiframe.dcm", "TOWN_A")
	k.prior = en.putBytes(variantOf(t, "dr_mono2.dcm", 1, "20240315", "20230315", "CG20230315001", "CG20240315001"), "TOWN_A")
	k.other = en.putBytes(variantOf(t, "dr_mono2.dcm", 2, "CG20240315001", "XY20240315001"), "TOWN_B")
	return k
}

// putBytes stores a DICOM file's bytes as if sent from callingAE.
func (en *env) putBytes(b []byte, callingAE string) *store.Instance {
	en.t.Helper()
	in, err := en.archive.Put(context.Background(), bytes.NewReader(b), store.PutRequest{
		Origin: store.Origin{Transport: "dimse", CallingAE: callingAE}})
	if err != nil {
		en.t.Fatal(err)
	}
	return in
}

// variantOf is a testdata file as another study: the last digit of its study, series and
// instance UIDs moved on by n, and each pair of repl replaced in turn (old, new: of the same
// length, so the encoding stays valid).
func variantOf(t *testing.T, name string, n int, repl ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []dicom.Tag{dicom.TagStudyInstanceUID, dicom.TagSeriesInstanceUID, dicom.TagSOPInstanceUID} {
		u := hdr.Dataset.String(tag)
		repl = append(repl, u, u[:len(u)-1]+strconv.Itoa((int(u[len(u)-1]-'0')+n)%10))
	}
	for i := 0; i+1 < len(repl); i += 2 {
		if len(repl[i]) != len(repl[i+1]) {
			t.Fatalf("variant: %q and %q differ in length", repl[i], repl[i+1])
		}
		b = bytes.ReplaceAll(b, []byte(repl[i]), []byte(repl[i+1]))
	}
	return b
}

// keysOf calls the key image API and decodes its answer.
func keysOf(t *testing.T, c *client, method, study, body string, wantStatus int) keyImagesJSON {
	t.Helper()
	var resp *http.Response
	var text string
	if method == http.MethodGet {
		resp, text = c.get("/api/studies/"+study+"/keyimages", "application/json")
	} else {
		resp, text = c.sendJSON(method, "/api/studies/"+study+"/keyimages", body)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s key images of %s (%s): %d %s, want %d", method, study, body, resp.StatusCode, text, wantStatus)
	}
	var out keyImagesJSON
	if wantStatus == http.StatusOK {
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// koObjects are the study's Key Object Selection documents, found over QIDO-RS.
func koObjects(t *testing.T, c *client, study string) []string {
	t.Helper()
	resp, body := c.get("/dicomweb/studies/"+study+"/instances?Modality=KO", "application/dicom+json")
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("QIDO: %d %s", resp.StatusCode, body)
	}
	var res []dicom.JSONDataset
	if body != "" {
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	for _, r := range res {
		out = append(out, r.String(dicom.TagSOPInstanceUID))
	}
	return out
}

// TestKeyImagesAPI: a radiologist marks and unmarks key images (a frame of a cine loop among
// them); each change stores a new KOS, found over QIDO-RS with the earlier ones, that DCMTK
// reads as a Key Object Selection Document naming the frames; the township of the study sees
// them (and their pictures) but cannot change them; another township does not see them; an
// image of another study or a frame beyond the last is refused; the printed report carries
// them.
func TestKeyImagesAPI(t *testing.T) {
	k := newKeyEnv(t)
	doc := k.login("doc", "password-doc")
	townA := k.login("town-a", "password-town-a")
	townB := k.login("town-b", "password-town-b")
	us, dr := k.us.StudyInstanceUID, k.dr.StudyInstanceUID

	if got := keysOf(t, doc, "GET", us, "", 200); got.Revision != 0 || len(got.Images) != 0 || !got.Editable {
		t.Errorf("before any mark: %+v", got)
	}
	mark := func(sop string, frame int, key bool) string {
		return `{"sop":"` + sop + `","frame":` + strconv.Itoa(frame) + `,"key":` + strconv.FormatBool(key) + `}`
	}
	s1 := keysOf(t, doc, "POST", us, mark(k.us.SOPInstanceUID, 3, true), 200)
	s2 := keysOf(t, doc, "POST", us, mark(k.us.SOPInstanceUID, 0, true), 200)
	if s1.Revision != 1 || s2.Revision != 2 || len(s2.Images) != 2 || s2.Object == "" || s2.Object == s1.Object {
		t.Fatalf("after two marks: %+v then %+v", s1, s2)
	}
	if im := s2.Images[0]; im.Frame != 3 || im.Frames != 8 || im.SeriesUID != k.us.SeriesInstanceUID ||
		im.MarkedByName != "doc" || !strings.HasSuffix(im.URL, "/frames/3/rendered") || im.MarkedAt == "" {
		t.Errorf("first key image %+v", im)
	}
	// Marking a key image again changes nothing.
	if again := keysOf(t, doc, "POST", us, mark(k.us.SOPInstanceUID, 3, true), 200); again.Revision != 2 {
		t.Errorf("marking again made revision %d", again.Revision)
	}
	keysOf(t, doc, "POST", us, mark(k.dr.SOPInstanceUID, 0, true), 400) // another study's image
	keysOf(t, doc, "POST", us, mark(k.us.SOPInstanceUID, 8, true), 400) // beyond the last frame
	keysOf(t, doc, "POST", us, `{"sop":"1.2.3","frame":0,"key":true}`, 400)

	// Each change is a KOS of the study; the earlier ones stay.
	kos := koObjects(t, doc, us)
	if len(kos) != 2 || !strings.Contains(strings.Join(kos, ","), s2.Object) {
		t.Fatalf("QIDO finds KOS %v, want rev 1 and 2 (%s)", kos, s2.Object)
	}
	_, rc, err := k.archive.Open(context.Background(), s2.Object)
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.ReadFrom(rc)
	rc.Close()
	if peertest.Tool(t, "dsrdump") != "" {
		p := filepath.Join(t.TempDir(), "kos.dcm")
		os.WriteFile(p, b.Bytes(), 0o600)
		out, err := exec.Command("dsrdump", "+U8", "-v", p).CombinedOutput()
		s := string(out)
		if err != nil || !strings.Contains(s, "Key Object Selection Document") || !strings.Contains(s, "Of Interest") ||
			!strings.Contains(s, ",4)>") || !strings.Contains(s, ",1)>") || strings.Contains(s, "\nE:") {
			t.Errorf("dsrdump of the stored KOS: %v\n%s", err, s)
		}
	}

	// The township of the study sees the key images and their pictures; it cannot change them.
	seen := keysOf(t, townA, "GET", us, "", 200)
	if len(seen.Images) != 2 || seen.Editable {
		t.Errorf("township A sees %+v", seen)
	}
	if resp, _ := townA.get(seen.Images[0].URL, ""); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("township A's picture of a key image: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	keysOf(t, townA, "POST", us, mark(k.us.SOPInstanceUID, 5, true), 403)
	keysOf(t, townB, "GET", us, "", 404)

	// Unmarking every one: the set is empty, no new KOS for the empty set, the old ones stay.
	keysOf(t, doc, "POST", us, mark(k.us.SOPInstanceUID, 3, false), 200)
	last := keysOf(t, doc, "POST", us, mark(k.us.SOPInstanceUID, 0, false), 200)
	if last.Revision != 4 || len(last.Images) != 0 || last.Object != "" {
		t.Errorf("after unmarking all: %+v", last)
	}
	if kos := koObjects(t, doc, us); len(kos) != 3 {
		t.Errorf("QIDO finds %d KOS after unmarking, want 3 (revisions 1-3)", len(kos))
	}

	// The printed report: the key images' section, for the township too.
	keysOf(t, doc, "POST", dr, mark(k.dr.SOPInstanceUID, 0, true), 200)
	if resp, body := doc.sendJSON(http.MethodPost, "/api/studies/"+dr+"/report/sign",
		`{"version":1,"findings":"右下肺结节。","impression":"建议复查。"}`); resp.StatusCode != 200 {
		t.Fatalf("sign: %d %s", resp.StatusCode, body)
	}
	if _, page := townA.get("/studies/"+dr+"/print", "text/html"); !strings.Contains(page, `id="print-keyimages"`) {
		t.Error("the print view has no key images section")
	}
	// Every change (not the mark made again) is audited under the radiologist, naming the
	// patient and the image; newest first.
	evs := events(t, k.idx.Audit(), audit.Filter{UserName: "doc", Actions: []audit.Action{audit.ActionKeyImage}})
	if len(evs) != 5 || evs[4].PatientID != "CG20240316007" || evs[4].Object != k.us.SOPInstanceUID+" frame 4" ||
		evs[0].StudyUID != dr {
		t.Errorf("key image audit events: %+v", evs)
	}
}

// TestPriorsAPI: the county sees the patient's other study at the same site and, marked as
// possibly the same patient with whom it names, the other site's study of a patient with the
// same name, sex and birth date; the township sees only its own site's; values are in words.
func TestPriorsAPI(t *testing.T) {
	k := newKeyEnv(t)
	doc := k.login("doc", "password-doc")
	townA := k.login("town-a", "password-town-a")
	townB := k.login("town-b", "password-town-b")
	priors := func(c *client, study string, want int) []priorJSON {
		t.Helper()
		resp, body := c.get("/api/studies/"+study+"/priors", "application/json")
		if resp.StatusCode != want {
			t.Fatalf("priors of %s: %d %s, want %d", study, resp.StatusCode, body, want)
		}
		var out struct{ Priors []priorJSON }
		json.Unmarshal([]byte(body), &out)
		return out.Priors
	}
	got := priors(doc, k.dr.StudyInstanceUID, 200)
	if len(got) != 2 {
		t.Fatalf("county: %+v", got)
	}
	// Newest first: the other site's (examined the same day) before last year's.
	o, p := got[0], got[1]
	if o.Study != k.other.StudyInstanceUID || !o.Possible || o.PatientName != "张伟" || o.PatientID != "XY20240315001" ||
		o.Site != "乙镇卫生院" {
		t.Errorf("possible match %+v", o)
	}
	if p.Study != k.prior.StudyInstanceUID || p.Possible || p.PatientName != "" || p.Date != "2023-03-15 09:30" ||
		p.Modality != "DR" || p.BodyPart != "胸部" || p.Description != "胸部正位" || p.StatusText != "未读" || p.Images != 1 ||
		p.URL != "/studies/"+k.prior.StudyInstanceUID {
		t.Errorf("same patient's prior %+v", p)
	}
	if got := priors(townA, k.dr.StudyInstanceUID, 200); len(got) != 1 || got[0].Study != k.prior.StudyInstanceUID {
		t.Errorf("township A: %+v", got)
	}
	if got := priors(townB, k.other.StudyInstanceUID, 200); len(got) != 0 {
		t.Errorf("township B sees another site's study: %+v", got)
	}
	priors(townB, k.dr.StudyInstanceUID, 404)
	if got := priors(doc, k.us.StudyInstanceUID, 200); len(got) != 0 {
		t.Errorf("李娜's priors: %+v", got)
	}
	// Each list is audited as a look at the patient's studies.
	evs := events(t, k.idx.Audit(), audit.Filter{UserName: "town-a", Actions: []audit.Action{audit.ActionQuery}})
	if len(evs) != 1 || evs[0].Object != "priors" || evs[0].StudyUID != k.dr.StudyInstanceUID {
		t.Errorf("priors audit events of town-a: %+v", evs)
	}
}

// TestKeyImagesAndPriorsOff: without their repositories the study page's key images and
// priors are empty lists (nothing to change), not 404s in every browser's log.
func TestKeyImagesAndPriorsOff(t *testing.T) {
	en := newEnv(t)
	en.townships()
	dr := en.put("dr_mono2.dcm", "TOWN_A")
	doc := en.login("doc", "password-doc")
	base := "/api/studies/" + dr.StudyInstanceUID
	if resp, body := doc.get(base+"/keyimages", "application/json"); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, `"images":[]`) || !strings.Contains(body, `"editable":false`) {
		t.Errorf("key images: %d %s", resp.StatusCode, body)
	}
	if resp, body := doc.get(base+"/priors", "application/json"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"priors":[]`) {
		t.Errorf("priors: %d %s", resp.StatusCode, body)
	}
	if resp, _ := doc.sendJSON(http.MethodPost, base+"/keyimages", `{"sop":"`+dr.SOPInstanceUID+`","frame":0,"key":true}`); resp.StatusCode < 400 {
		t.Errorf("marking without the repository: %d", resp.StatusCode)
	}
	// Another site's user is still refused the study.
	if resp, _ := en.login("town-b", "password-town-b").get(base+"/priors", "application/json"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("town-b priors: %d", resp.StatusCode)
	}
}
