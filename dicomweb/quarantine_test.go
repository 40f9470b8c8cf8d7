package dicomweb

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"testing"

	"pacsd/store"
)

// TestQuarantinedStudyByUID: a study held in quarantine (from an unknown sender) is for
// administrators only; QIDO-RS leaves it out for anybody else, and so must every resource
// that names it by UID (WADO-RS, metadata, frames, rendered, thumbnails, WADO-URI).
func TestQuarantinedStudyByUID(t *testing.T) {
	a, _ := newArchive(t)
	data, err := os.ReadFile("../testdata/dr_mono2.dcm")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := a.Put(context.Background(), bytes.NewReader(data), store.PutRequest{Origin: store.Origin{
		Transport: "dimse", CallingAE: "UNKNOWN_DR", Site: "ae:UNKNOWN_DR", Quarantined: true}})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, a, Config{Logger: testLogger(), Asker: func(r *http.Request) (string, bool) {
		return "county", r.Header.Get("X-Test-Admin") == "1"
	}}) + "/dicomweb"
	study := "/studies/" + inst.StudyInstanceUID
	series := study + "/series/" + inst.SeriesInstanceUID
	object := series + "/instances/" + inst.SOPInstanceUID
	wado := "/wado?requestType=WADO&studyUID=" + inst.StudyInstanceUID + "&seriesUID=" + inst.SeriesInstanceUID +
		"&objectUID=" + inst.SOPInstanceUID + "&contentType=application/dicom"
	for _, path := range []string{study, series, object, study + "/metadata", object + "/metadata",
		object + "/frames/1", object + "/rendered", study + "/thumbnail", object + "/frames/1/rendered", wado} {
		if r := get(t, http.MethodGet, base+path, map[string]string{"X-Test-Admin": "1"}); r.status != http.StatusOK {
			t.Errorf("administrator: GET %s: %d, want 200", path, r.status)
		}
		if r := get(t, http.MethodGet, base+path, nil); r.status != http.StatusNotFound {
			t.Errorf("not an administrator: GET %s: %d (%d bytes), want 404", path, r.status, len(r.body))
		}
	}
}
