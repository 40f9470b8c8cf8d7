package postgres_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/audit/audittest"
	"pacsd/internal/pgtest"
	"pacsd/store/postgres"
)

func TestAuditContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Store { return openIndex(t).Audit() })
}

// TestAuditAppendOnly: the database itself refuses to change an audit event or to remove
// one younger than the last retention horizon, whoever asks (here another connection, as
// psql would be), TRUNCATE included; a purge then removes exactly the older ones.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	x, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	trail := x.Audit()
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := trail.Append(ctx, []audit.Event{
		{Time: old, Actor: audit.User(1, "li", "10.0.0.1"), Action: audit.ActionStudyView, PatientName: "张^伟", StudyUID: "1.1"},
		{Time: old.AddDate(1, 0, 0), Actor: audit.User(1, "li", "10.0.0.1"), Action: audit.ActionStudyView, PatientName: "张^伟", StudyUID: "1.2"},
	}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	refused := func(stmts ...string) {
		t.Helper()
		for _, stmt := range stmts {
			_, err := db.ExecContext(ctx, stmt)
			if err == nil || !strings.Contains(err.Error(), "audit") {
				t.Errorf("%s: %v, want refused by the audit trigger", stmt, err)
			}
		}
	}
	refused(
		`UPDATE audit_events SET user_name = 'someone else'`,
		`UPDATE audit_events SET time = '2019-01-01T00:00:00.000000000Z' WHERE study_uid = '1.1'`,
		`DELETE FROM audit_events`,
		`DELETE FROM audit_events WHERE study_uid = '1.1'`,
		`TRUNCATE audit_events CASCADE`,
		`DELETE FROM audit_names`,
		`UPDATE audit_names SET key = 'x'`,
		`TRUNCATE audit_names`,
	)
	if n, err := trail.Purge(ctx, old.AddDate(0, 6, 0)); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM audit_events WHERE study_uid = '1.2'`); err == nil {
		t.Error("deleting an event younger than the retention horizon succeeded")
	}
	refused(`UPDATE audit_retention SET horizon = '2099'`, `DELETE FROM audit_retention`, `TRUNCATE audit_retention`)
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d events left, %v; want 1", n, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_names`).Scan(&n); err != nil || n == 0 {
		t.Errorf("%d name keys left, %v; want the remaining event's", n, err)
	}
	var horizon string
	var deleted int
	if err := db.QueryRowContext(ctx, `SELECT horizon, deleted FROM audit_retention`).Scan(&horizon, &deleted); err != nil ||
		!strings.HasPrefix(horizon, "2020-07-01") || deleted != 1 {
		t.Errorf("retention record %q %d, %v", horizon, deleted, err)
	}
}
