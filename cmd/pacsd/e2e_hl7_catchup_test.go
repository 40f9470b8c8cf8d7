package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/store/sqlite"
)

// TestHL7ReportCatchUp: a report whose signature committed but whose ORU was never queued
// (pacsd killed in between: here, signed straight in the index while pacsd was down) is
// queued at the next start and reaches the HIS's MLLP listener.
func TestHL7ReportCatchUp(t *testing.T) {
	needTool(t, "storescu")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	hisAddr, got := hisListener(t)
	n := startPacsd(t, data, "--hl7-report-addr", hisAddr)
	const file = "../../testdata/sc_mono8.dcm"
	if st := storeStatusOf(t, n, "TOWNA", file); st != 0 {
		t.Fatalf("store: status 0x%04X", st)
	}
	study := readHeader(t, file).Dataset.String(dicom.TagStudyInstanceUID)
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	x, err := sqlite.Open(ctx, filepath.Join(data, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := x.Reading()
	doc, err := r.CreateUser(ctx, reading.User{Username: "doc", DisplayName: "李医生", Role: reading.RoleRadiologist, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := r.SaveDraft(ctx, study, "双肺纹理清晰。", "胸部未见异常。", doc, now); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sign(ctx, study, 1, doc, now); err != nil {
		t.Fatal(err)
	}
	x.Close()

	startPacsd(t, data, "--hl7-report-addr", hisAddr)
	select {
	case msg := <-got:
		if !bytes.Contains(msg, []byte("ORU^R01")) || !bytes.Contains(msg, []byte(study)) || !bytes.Contains(msg, []byte("胸部未见异常")) {
			t.Fatalf("the HIS got %q, want the ORU of study %s", msg, study)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the report signed while pacsd was down never reached the HIS")
	}
}
