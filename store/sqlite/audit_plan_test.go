package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/store/sqldb"
)

// TestAuditPlans (on audit.db) keeps the audit page's searches off full scans and, except for the name
// search and several actions at once, off sorting: a page walks one index newest first and
// stops at the page size, however many millions of events the trail holds.
func TestAuditPlans(t *testing.T) {
	a, err := OpenAudit(context.Background(), filepath.Join(t.TempDir(), AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	after := sqldb.FormatTime(day) + "~42"
	for _, tc := range []struct {
		name  string
		f     audit.Filter
		index string // the index the plan must use
		sort  bool   // a sort of the matches is acceptable
	}{
		{"newest", audit.Filter{}, "audit_events_time", false},
		{"newest next page", audit.Filter{After: after}, "audit_events_time", false},
		{"date range", audit.Filter{From: day, To: day.AddDate(0, 0, 7)}, "audit_events_time", false},
		{"patient", audit.Filter{PatientID: "P1"}, "audit_events_patient", false},
		{"patient next page in range", audit.Filter{PatientID: "P1", From: day, After: after}, "audit_events_patient", false},
		{"study", audit.Filter{StudyUID: "1.2.3"}, "audit_events_study", false},
		{"user", audit.Filter{UserName: "li"}, "audit_events_user", false},
		{"user in range", audit.Filter{UserName: "li", From: day, To: day.AddDate(0, 1, 0)}, "audit_events_user", false},
		{"ae", audit.Filter{AETitle: "TOWN_A"}, "audit_events_ae", false},
		{"action", audit.Filter{Actions: []audit.Action{audit.ActionLogin}}, "audit_events_action", false},
		{"failed logins", audit.Filter{Actions: []audit.Action{audit.ActionLogin}, Outcome: audit.OutcomeFailure}, "audit_events_action", false},
		{"actions", audit.Filter{Actions: []audit.Action{audit.ActionLogin, audit.ActionLogout}}, "audit_events_action", true},
		{"name", audit.Filter{PatientName: "张伟"}, "audit_names", true},
		{"name in range", audit.Filter{PatientName: "zhang", From: day}, "audit_names", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args, _, err := sqldb.AuditQuery(tc.f, auditSearch)
			if err != nil {
				t.Fatal(err)
			}
			plan := queryPlan(t, a.db, q, args...)
			all := strings.Join(plan, "|")
			for _, step := range plan {
				// "SCAN n" reads the name search's own result (the matching keys' events).
				if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "USING") && step != "SCAN n" {
					t.Errorf("full scan %q in plan %q", step, plan)
				}
				if strings.Contains(step, "TEMP B-TREE") && !tc.sort {
					t.Errorf("the page is sorted (%q), not read in index order: %q", step, plan)
				}
			}
			if !strings.Contains(all, tc.index) {
				t.Errorf("plan does not use %s: %q", tc.index, plan)
			}
		})
	}
}
