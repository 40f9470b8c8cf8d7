package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/audit/audittest"
	"pacsd/store/sqlite"
)

func openAuditIndex(t testing.TB) (*sqlite.Index, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	idx, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx, path
}

func TestAuditContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Store {
		idx, _ := openAuditIndex(t)
		return idx.Audit()
	})
}

// TestAuditAppendOnly: the database itself refuses to change an audit event or to remove
// one younger than the last retention horizon, whoever asks (here a second connection, as
// the sqlite3 shell would be); a purge then removes exactly the older ones.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	idx, path := openAuditIndex(t)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := idx.Audit().Append(ctx, []audit.Event{
		{Time: old, Actor: audit.User(1, "li", "10.0.0.1"), Action: audit.ActionStudyView, PatientName: "张^伟", StudyUID: "1.1"},
		{Time: old.AddDate(1, 0, 0), Actor: audit.User(1, "li", "10.0.0.1"), Action: audit.ActionStudyView, PatientName: "张^伟", StudyUID: "1.2"},
	}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`UPDATE audit_events SET user_name = 'someone else'`,
		`UPDATE audit_events SET time = '2019-01-01T00:00:00.000000000Z' WHERE study_uid = '1.1'`,
		`DELETE FROM audit_events`,
		`DELETE FROM audit_events WHERE study_uid = '1.1'`,
		`DELETE FROM audit_names`,
		`UPDATE audit_names SET key = 'x'`,
	} {
		_, err := db.ExecContext(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "audit") {
			t.Errorf("%s: %v, want refused by the audit trigger", stmt, err)
		}
	}
	if n, err := idx.Audit().Purge(ctx, old.AddDate(0, 6, 0)); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	// Older than the horizon: the shell may remove it now (nothing left), newer still not.
	if _, err := db.ExecContext(ctx, `DELETE FROM audit_events WHERE study_uid = '1.2'`); err == nil {
		t.Error("deleting an event younger than the retention horizon succeeded")
	}
	// Nor can the horizon be moved, or the record of a purge removed.
	for _, stmt := range []string{`UPDATE audit_retention SET horizon = '2099'`, `DELETE FROM audit_retention`} {
		if _, err := db.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "audit") {
			t.Errorf("%s: %v, want refused by the audit trigger", stmt, err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d events left, %v; want 1", n, err)
	}
	var horizon string
	var deleted int
	if err := db.QueryRowContext(ctx, `SELECT horizon, deleted FROM audit_retention`).Scan(&horizon, &deleted); err != nil ||
		!strings.HasPrefix(horizon, "2020-07-01") || deleted != 1 {
		t.Errorf("retention record %q %d, %v", horizon, deleted, err)
	}
}
