package viewer

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/internal/browsertest"
)

// TestAuditInBrowser runs browsertest/audit.mjs against a real reading room with the audit
// trail on: a township user and a radiologist each open a study and print its report, and
// the administrator finds exactly those events at /admin/audit, with the user, the address
// and the patient, and downloads them as CSV. See the scenario for the steps.
func TestAuditInBrowser(t *testing.T) {
	browsertest.Require(t)
	r := newAuditRoom(t)
	r.admin() // the administrator has chosen their password
	r.sign(r.dr, 1, "双肺纹理清晰。", "未见异常。")
	row, err := r.idx.Reading().Study(context.Background(), r.dr)
	if err != nil {
		t.Fatal(err)
	}
	sc := map[string]any{
		"town":    map[string]string{"username": "town-a", "password": "password-town-a"},
		"doc":     map[string]string{"username": "doc", "password": "password-doc"},
		"admin":   map[string]string{"username": "admin", "password": r.adminPW},
		"study":   map[string]string{"UID": r.dr, "PatientID": row.PatientID, "PatientName": displayName(row.PatientName)},
		"address": "127.0.0.1",
	}
	scJSON, _ := json.Marshal(sc)
	res := browsertest.Run(t, "audit.mjs", browsertest.Options{
		BaseURL: r.srv.URL,
		Env:     map[string]string{"AUDIT_SCENARIO": string(scJSON)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"the audit page finds exactly the two prints by the patient, with user, address and patient",
		"the study views are there too, one per user",
		"the CSV export downloads the search for Excel",
	)
	// The administrator's searches and the export are themselves in the trail.
	if evs := events(t, r.idx.Audit(), audit.Filter{UserName: "admin", Actions: []audit.Action{audit.ActionAuditView}}); len(evs) < 4 {
		t.Errorf("%d audit views recorded, want at least 4 (page, two searches, export)", len(evs))
	}
}
