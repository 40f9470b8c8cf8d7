package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"pacsd/dicom"
)

// TestOrthancStorageCommitment: Orthanc 1.10 stores objects to pacsd, then asks pacsd for
// storage commitment (its REST API, POST /modalities/pacsd/storage-commitment) of them and
// of one SOP instance pacsd never received, and of a stored one under another SOP class.
// Orthanc closes its association after the N-ACTION-RSP, so pacsd reports on a new
// association to Orthanc's registered host and port (--peers-file), proposing the SCP
// role; Orthanc's report must say success for the stored instances and name the unknown
// one (0x0112) and the class mismatch (0x0119) as failures.
func TestOrthancStorageCommitment(t *testing.T) {
	o := startOrthanc(t, "", nil)
	peers := filepath.Join(t.TempDir(), "peers.json")
	b, _ := json.Marshal([]map[string]any{{"aeTitle": "ORTHANC", "host": "127.0.0.1", "port": mustAtoi(t, o.dicomPort), "mayStore": true}})
	if err := os.WriteFile(peers, b, 0o644); err != nil {
		t.Fatal(err)
	}
	n := startPacsd(t, t.TempDir(), "--peers-file", peers, "--aet", "PACSD")
	reg, _ := json.Marshal(map[string]any{"AET": "PACSD", "Host": "127.0.0.1", "Port": mustAtoi(t, n.dicomPort)})
	if b, code := o.call(t, "PUT", "/modalities/pacsd", reg); code != http.StatusOK {
		t.Fatalf("register pacsd in Orthanc: HTTP %d %s", code, b)
	}

	files := testdataFiles(t)[:3]
	expected := loadExpected(t)
	var ids []string
	type ref struct{ SOPClassUID, SOPInstanceUID string }
	var stored []ref
	for _, f := range files {
		part10, up := o.upload(t, f)
		ids = append(ids, up.ID)
		ds := header(t, f, part10).Dataset
		stored = append(stored, ref{ds.String(dicom.TagSOPClassUID), expected[filepath.Base(f)].SOPInstanceUID})
	}
	req, _ := json.Marshal(map[string]any{"Resources": ids, "Synchronous": true})
	var job struct{ FailedInstancesCount, InstancesCount int }
	o.callJSON(t, "POST", "/modalities/pacsd/store", req, &job)
	if job.FailedInstancesCount != 0 || job.InstancesCount != len(files) {
		t.Fatalf("Orthanc C-STORE to pacsd: %+v", job)
	}

	unknown := ref{stored[0].SOPClassUID, "1.2.826.0.1.3680043.2.1125.424242.1"}
	mismatch := ref{"1.2.840.10008.5.1.4.1.1.7", stored[1].SOPInstanceUID}
	if mismatch.SOPClassUID == stored[1].SOPClassUID {
		mismatch.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
	}
	req, _ = json.Marshal(map[string]any{
		"Resources":      []string{}, // the stored ones go by UID too, as a modality would name them
		"DicomInstances": append(slices.Clone(stored), unknown, mismatch),
		"Timeout":        60,
	})
	var started struct{ ID, Path string }
	o.callJSON(t, "POST", "/modalities/pacsd/storage-commitment", req, &started)
	if started.ID == "" {
		t.Fatalf("Orthanc storage commitment request: %+v", started)
	}

	type failure struct {
		FailureReason  int
		SOPClassUID    string
		SOPInstanceUID string
	}
	var report struct {
		Status    string
		RemoteAET string
		Success   []ref
		Failures  []failure
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		o.callJSON(t, "GET", "/storage-commitment/"+started.ID, nil, &report)
		if report.Status != "Pending" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("storage commitment report still pending\npacsd:\n%s\nOrthanc:\n%s", n.log.String(), o.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if report.Status != "Failure" || report.RemoteAET != "PACSD" {
		t.Errorf("report status %q from %q, want Failure (one unknown instance) from PACSD", report.Status, report.RemoteAET)
	}
	got := map[string]bool{}
	for _, r := range report.Success {
		got[r.SOPInstanceUID] = true
	}
	for _, r := range stored {
		if !got[r.SOPInstanceUID] {
			t.Errorf("stored instance %s not in the report's successes %+v", r.SOPInstanceUID, report.Success)
		}
	}
	if got[unknown.SOPInstanceUID] {
		t.Errorf("the unknown instance was reported committed")
	}
	wantFail := map[string]int{unknown.SOPInstanceUID: 0x0112, mismatch.SOPInstanceUID: 0x0119}
	for _, f := range report.Failures {
		if want, ok := wantFail[f.SOPInstanceUID]; !ok || f.FailureReason != want {
			t.Errorf("failure %+v, want reason 0x%04X", f, want)
		}
		delete(wantFail, f.SOPInstanceUID)
	}
	if len(wantFail) != 0 {
		t.Errorf("failures missing from the report: %v (report %+v)", wantFail, report)
	}
	// stored[1] was named twice: committed under its class, failed under the other one.
	if len(report.Success) != len(stored) {
		t.Errorf("%d successes, want %d: %+v", len(report.Success), len(stored), report.Success)
	}
	// Orthanc may show the report before pacsd has logged sending it: wait for the lines.
	for _, want := range []string{"storage commitment requested", "storage commitment reported", "on a new association to 127.0.0.1:" + o.dicomPort} {
		n.waitLog(t, regexp.QuoteMeta(want))
	}
	t.Logf("Orthanc report: %d committed, %d failed", len(report.Success), len(report.Failures))
}
