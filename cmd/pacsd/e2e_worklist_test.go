package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
)

// The registration (登记) and Modality Worklist end to end: orders made through the HIS API
// (an API token of scope "orders") and through the reading room's form, queried by DCMTK's
// findscu -W with Chinese names in GB18030 and ISO_IR 192, by station AE and date range, a
// site's AE seeing its site's only; then a study stored with an order's accession number is
// tied to it and the order is done.

// mwlFind runs findscu -W as aet with keys and returns the responses, decoded from each
// one's own character set.
func (n *node) mwlFind(t *testing.T, aet string, keys ...string) []*dicom.Dataset {
	t.Helper()
	out := t.TempDir()
	args := []string{"-aec", "PACSD", "-aet", aet, "-W", "-X", "-od", out}
	for _, k := range keys {
		args = append(args, "-k", k)
	}
	runTool(t, "findscu", append(args, "127.0.0.1", n.dicomPort)...)
	files, err := filepath.Glob(filepath.Join(out, "rsp*.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var res []*dicom.Dataset
	for _, f := range files {
		res = append(res, readHeader(t, f).Dataset)
	}
	return res
}

// The step keys every worklist query asks for (universal matching unless given).
var mwlKeys = []string{"AccessionNumber", "PatientName", "PatientID", "StudyInstanceUID",
	"ScheduledProcedureStepSequence[0].ScheduledStationAETitle", "ScheduledProcedureStepSequence[0].Modality",
	"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate",
	"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime"}

func accessions(res []*dicom.Dataset) []string {
	var out []string
	for _, ds := range res {
		out = append(out, ds.String(dicom.TagAccessionNumber))
	}
	slices.Sort(out)
	return out
}

func TestWorklistE2E(t *testing.T) {
	needTool(t, "findscu", "storescu", "dcmodify")
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites.json")
	peers := filepath.Join(dir, "peers.json")
	if err := os.WriteFile(sites, []byte(`[{"name": "甲镇"}, {"name": "乙镇"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(peers, []byte(`[
		{"aeTitle": "FINDSCU", "mayQuery": true},
		{"aeTitle": "DR_A", "site": "甲镇", "mayStore": true, "mayQuery": true},
		{"aeTitle": "US_B", "site": "乙镇", "mayStore": true, "mayQuery": true}
	]`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startPacsd(t, filepath.Join(dir, "data"), "--sites-file", sites, "--peers-file", peers)
	admin := newAdminBrowser(t, n)
	tok := regexp.MustCompile(`pacsd_[A-Za-z0-9_-]{43}`).FindString(
		admin.post("/admin/tokens", url.Values{"name": {"HIS"}, "days": {"30"}, "scope": {"orders"}}, true))
	if tok == "" {
		t.Fatal("no orders token shown")
	}
	api := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, n.baseURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cst := time.FixedZone("CST", 8*3600) // pacsd's default county time zone
	now := time.Now().In(cst)
	today, yesterday, tomorrow := now.Format("20060102"), now.AddDate(0, 0, -1).Format("20060102"), now.AddDate(0, 0, 1).Format("20060102")

	// The HIS books 张三 on DR_A today, and 王五 yesterday (never came).
	st, body := api(http.MethodPost, "/api/orders", `{"patientId":"HIS001","patientName":"张三","patientSex":"M",
		"birthDate":"1960-05-04","accessionNumber":"ACC-API1","requestedProcedure":"胸部正位","modality":"DX",
		"stationAE":"DR_A","scheduledDate":"`+today+`","scheduledTime":"08:30"}`)
	var apiOrder struct {
		ID            int64  `json:"id"`
		StudyUID      string `json:"studyUid"`
		Status        string `json:"status"`
		ImageStudyUID string `json:"imageStudyUid"`
		PatientName   string `json:"patientName"`
	}
	if st != http.StatusCreated || json.Unmarshal([]byte(body), &apiOrder) != nil || apiOrder.PatientName != "Zhang^San=张^三" {
		t.Fatalf("API order: %d %s", st, body)
	}
	if st, body := api(http.MethodPost, "/api/orders", `{"patientId":"HIS003","patientName":"王五","accessionNumber":"ACC-OLD",
		"requestedProcedure":"胸部正位","modality":"DX","stationAE":"DR_A","scheduledDate":"`+yesterday+`"}`); st != http.StatusCreated {
		t.Fatalf("API order of yesterday: %d %s", st, body)
	}
	// Bad input is refused naming the field.
	if st, body := api(http.MethodPost, "/api/orders", `{"patientId":"X","patientName":"某","accessionNumber":"ACC-X",
		"requestedProcedure":"胸部","modality":"DX","stationAE":"NOBODY","scheduledDate":"`+today+`"}`); st != http.StatusBadRequest ||
		!strings.Contains(body, `"field":"stationAE"`) {
		t.Fatalf("unknown station: %d %s", st, body)
	}

	// The registrar registers 李四 for 乙镇's ultrasound on the page.
	page := admin.post("/orders", url.Values{"site": {"2"}, "patientId": {"REG002"}, "patientName": {"李四"}, "patientSex": {"F"},
		"birthDate": {"1972-03-04"}, "accessionNumber": {"ACC-PAGE1"}, "requestedProcedure": {"腹部超声"},
		"modality": {"US"}, "stationAE": {"US_B"}, "scheduledDate": {now.Format("2006-01-02")}, "scheduledTime": {"10:00"}}, true)
	if !strings.Contains(page, `data-accession="ACC-PAGE1" data-status="scheduled"`) {
		t.Fatalf("the page does not list the registered order:\n%s", page)
	}

	// A Chinese name in GB18030: the console asks in GB18030 and is answered in it.
	gbName, err := dicom.EncodeText("张三", []string{"GB18030"}, "PN")
	if err != nil {
		t.Fatal(err)
	}
	res := n.mwlFind(t, "FINDSCU", append(slices.Clone(mwlKeys), "SpecificCharacterSet=GB18030", "PatientName="+string(gbName))...)
	if got := accessions(res); !slices.Equal(got, []string{"ACC-API1"}) {
		t.Fatalf("GB18030 name: %v", got)
	}
	if cs := res[0].Strings(dicom.TagSpecificCharacterSet); !slices.Equal(cs, []string{"GB18030"}) ||
		res[0].String(dicom.TagPatientName) != "Zhang^San=张^三" || res[0].String(dicom.TagStudyInstanceUID) != apiOrder.StudyUID {
		t.Fatalf("GB18030 response: charset %v, name %q, study %q", cs, res[0].String(dicom.TagPatientName), res[0].String(dicom.TagStudyInstanceUID))
	}
	step := res[0].Get(0x00400100)
	if step == nil || len(step.Items) != 1 || step.Items[0].String(0x00400001) != "DR_A" || step.Items[0].String(dicom.TagModality) != "DX" ||
		step.Items[0].String(0x00400002) != today || step.Items[0].String(0x00400003) != "083000" {
		t.Fatalf("scheduled procedure step: %+v", step)
	}
	// And in ISO_IR 192 (UTF-8).
	res = n.mwlFind(t, "FINDSCU", append(slices.Clone(mwlKeys), "SpecificCharacterSet=ISO_IR 192", "PatientName=李*")...)
	if got := accessions(res); !slices.Equal(got, []string{"ACC-PAGE1"}) ||
		!slices.Equal(res[0].Strings(dicom.TagSpecificCharacterSet), []string{"ISO_IR 192"}) || res[0].String(dicom.TagPatientName) != "Li^Si=李^四" {
		t.Fatalf("ISO_IR 192 name: %v", got)
	}
	// Station AE and a date range; the range excludes yesterday's order.
	res = n.mwlFind(t, "FINDSCU", append(slices.Clone(mwlKeys)[:6],
		"ScheduledProcedureStepSequence[0].ScheduledStationAETitle=DR_A",
		"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate="+today+"-"+tomorrow)...)
	if got := accessions(res); !slices.Equal(got, []string{"ACC-API1"}) {
		t.Fatalf("station and date range: %v", got)
	}
	// A site's AE sees its site's orders only, whatever it asks.
	if got := accessions(n.mwlFind(t, "US_B", mwlKeys...)); !slices.Equal(got, []string{"ACC-PAGE1"}) {
		t.Fatalf("US_B sees %v", got)
	}
	if got := accessions(n.mwlFind(t, "FINDSCU", mwlKeys...)); !slices.Equal(got, []string{"ACC-API1", "ACC-OLD", "ACC-PAGE1"}) {
		t.Fatalf("the county sees %v", got)
	}

	// DR_A sends the study with the order's accession number (its own Study Instance UID):
	// the study is tied to the order, which is done and leaves the worklist.
	src, err := os.ReadFile("../../testdata/dr_mono2.dcm")
	if err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "acc.dcm")
	if err := os.WriteFile(obj, src, 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, "dcmodify", "-nb", "-i", "AccessionNumber=ACC-API1", "-i", "PatientID=HIS001", obj)
	study := readHeader(t, obj).Dataset.String(dicom.TagStudyInstanceUID)
	runTool(t, "storescu", "-aec", "PACSD", "-aet", "DR_A", "127.0.0.1", n.dicomPort, obj)
	st, body = api(http.MethodGet, "/api/orders/"+strconvInt(apiOrder.ID), "")
	if st != http.StatusOK || json.Unmarshal([]byte(body), &apiOrder) != nil || apiOrder.Status != "done" || apiOrder.ImageStudyUID != study {
		t.Fatalf("after the images arrived: %d %s (study %s)", st, body, study)
	}
	if got := accessions(n.mwlFind(t, "DR_A", mwlKeys...)); !slices.Equal(got, []string{"ACC-OLD"}) {
		t.Fatalf("DR_A's worklist after the study: %v", got)
	}
	// The orders that never got images: yesterday's.
	st, body = api(http.MethodGet, "/api/orders?missing=1", "")
	if st != http.StatusOK || !strings.Contains(body, `"ACC-OLD"`) || strings.Contains(body, `"ACC-API1"`) {
		t.Fatalf("missing: %d %s", st, body)
	}
	if p := admin.page("/orders?view=missing"); !strings.Contains(p, `data-accession="ACC-OLD"`) || !bytes.Contains([]byte(p), []byte("王五")) {
		t.Fatalf("the missing view does not list ACC-OLD:\n%s", p)
	}
}
