package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/internal/pgtest"
	"pacsd/store/sqldb"
)

// TestAuditPlans keeps the audit page's searches on migration 0005's indexes and, except
// for the name search and several actions at once, off sorting: a page walks one index
// newest first and stops at the page size, however many events the trail holds. The trail
// holds a year of events, analyzed; sequential scans are switched off all the same, since
// the question is whether an index serves each search, not what is cheapest on this size.
func TestAuditPlans(t *testing.T) {
	ctx := context.Background()
	x, err := Open(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	conn, err := x.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		// Every event of 20,000 over a year: one in 40 names a patient, one in 200 an AE.
		`INSERT INTO audit_events (time, actor_kind, user_name, ae_title, action, patient_id, study_uid, outcome)
		SELECT to_char(timestamp '2025-03-02' + i * interval '26 minutes', 'YYYY-MM-DD"T"HH24:MI:SS.US000"Z"'),
			'user', 'user' || (i % 50), CASE WHEN i % 200 = 0 THEN 'TOWN_' || (i % 7) ELSE '' END,
			(ARRAY['study.view', 'image.view', 'query', 'login', 'logout', 'retrieve'])[1 + i % 6],
			CASE WHEN i % 40 = 0 THEN 'P' || (i % 997) ELSE '' END,
			CASE WHEN i % 40 = 0 THEN '1.2.' || (i % 997) ELSE '' END,
			CASE WHEN i % 97 = 0 THEN 'failure' ELSE 'success' END
		FROM generate_series(1, 20000) i`,
		`INSERT INTO audit_names (key, event_id) SELECT 'zhang' || (id % 300), id FROM audit_events WHERE patient_id <> ''`,
		`VACUUM ANALYZE audit_events`, `VACUUM ANALYZE audit_names`,
		`SET enable_seqscan = off`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	day := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC) // within the year of events
	after := sqldb.FormatTime(day) + "~42"
	// A filter's own index, or the time index walked backwards and filtered: the planner
	// picks by the statistics (a user with 400 events a year is read by its index and
	// sorted; one with millions would be walked newest first), both are fine. What must not
	// happen is a scan of the whole table, or a sort of all of it.
	for _, tc := range []struct {
		name  string
		f     audit.Filter
		index string // an index the plan must use; "" any of the trail's
		sort  bool   // a sort of the matches is acceptable
	}{
		{"newest", audit.Filter{}, "audit_events_time", false},
		{"newest next page", audit.Filter{After: after}, "audit_events_time", false},
		{"date range", audit.Filter{From: day, To: day.AddDate(0, 0, 7)}, "audit_events_time", false},
		{"patient", audit.Filter{PatientID: "P1"}, "", true},
		{"patient next page in range", audit.Filter{PatientID: "P1", From: day, After: after}, "", true},
		{"study", audit.Filter{StudyUID: "1.2.3"}, "", true},
		{"user", audit.Filter{UserName: "user7"}, "", true},
		{"user in range", audit.Filter{UserName: "User7", From: day, To: day.AddDate(0, 1, 0)}, "", true},
		{"ae", audit.Filter{AETitle: "TOWN_A"}, "", true},
		{"action", audit.Filter{Actions: []audit.Action{audit.ActionLogin}}, "", true},
		{"failed logins", audit.Filter{Actions: []audit.Action{audit.ActionLogin}, Outcome: audit.OutcomeFailure}, "", true},
		{"actions", audit.Filter{Actions: []audit.Action{audit.ActionLogin, audit.ActionLogout}}, "", true},
		{"name", audit.Filter{PatientName: "张伟"}, "audit_names_pkey", true},
		{"name prefix", audit.Filter{PatientName: "Zhang1"}, "audit_names_pkey", true},
		{"name in range", audit.Filter{PatientName: "Zhang", From: day}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args, _, err := sqldb.AuditQuery(tc.f, auditSearch)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := conn.QueryContext(ctx, "EXPLAIN "+dollar(q), args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, strings.TrimSpace(line))
			}
			rows.Close()
			all := strings.Join(plan, "\n")
			if strings.Contains(all, "Seq Scan") {
				t.Errorf("sequential scan:\n%s", all)
			}
			if !tc.sort && strings.Contains(all, "Sort") {
				t.Errorf("the page is sorted, not read in index order:\n%s", all)
			}
			if !strings.Contains(all, tc.index) || !strings.Contains(all, " on audit_") {
				t.Errorf("plan does not use an index of the trail (%s):\n%s", tc.index, all)
			}
		})
	}
}
