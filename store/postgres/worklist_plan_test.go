package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"pacsd/internal/pgtest"
	"pacsd/reading"
	"pacsd/store/sqldb"
)

// TestWorklistPlans: on an analysed database of some thousands of studies, each part of a
// worklist page (first page, after a cursor, both orders; all studies, one site's, one
// status's, a name search) reads reading_studies and studies through indexes, never a
// sequential scan: what keeps a page within milliseconds at a million instances. The
// pages that need no search walk an index in the page's order.
func TestWorklistPlans(t *testing.T) {
	x := worklistIndex(t, 10000)
	row := reading.WorklistRow{StudyDate: "20230301", StudyTime: "093000", ReceivedAt: time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)}
	for _, order := range []reading.WorklistOrder{reading.OrderReceived, reading.OrderStudy} {
		for _, f := range []struct {
			name  string
			f     reading.WorklistFilter
			index string // the index the others part walks
		}{
			{"all", reading.WorklistFilter{}, "reading_studies_order"},
			{"site", reading.WorklistFilter{SiteID: 3}, "reading_studies_site"},
			{"unread", reading.WorklistFilter{Status: reading.StatusUnread}, "reading_studies_status"},
			{"search", reading.WorklistFilter{Query: "张"}, ""},
			{"search pinyin", reading.WorklistFilter{Query: "zhang"}, ""},
			{"search id", reading.WorklistFilter{Query: "P1234"}, ""},
		} {
			where, err := sqldb.WorklistWhere(f.f, pgSQL, nameCond)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name  string
				after sqldb.WorklistCursor
			}{
				{"urgent", sqldb.WorklistCursor{Order: order, Urgent: true}},
				{"urgent after", sqldb.CursorAt(order, true, row, 7)},
				{"others", sqldb.WorklistCursor{Order: order}},
				{"others after", sqldb.CursorAt(order, false, row, 7)},
			} {
				t.Run(string(order)+" "+f.name+" "+c.name, func(t *testing.T) {
					q, a := worklistQuery(where, c.after, 51)
					plan := strings.Join(queryPlan(t, x, q, a...), "\n")
					for _, tbl := range []string{"reading_studies", "studies", "study_names"} {
						if strings.Contains(plan, "Seq Scan on "+tbl+" ") {
							t.Errorf("sequential scan of %s:\n%s", tbl, plan)
						}
					}
					if c.after.Urgent && !strings.Contains(plan, "reading_studies_urgent_unread") {
						t.Errorf("the urgent part does not use its index:\n%s", plan)
					}
					if !c.after.Urgent && f.index != "" {
						index := f.index
						if order == reading.OrderStudy {
							index = map[string]string{"reading_studies_order": "reading_studies_study_order",
								"reading_studies_site":   "reading_studies_site_study",
								"reading_studies_status": "reading_studies_status_study"}[index]
						}
						if !strings.Contains(plan, "Index Scan using "+index+" ") || strings.Contains(plan, "Sort") {
							t.Errorf("the page does not walk %s in its order:\n%s", index, plan)
						}
					}
					if f.f.Query != "" && !strings.Contains(plan, "study_names_pkey") && f.name != "search id" {
						t.Errorf("the search box's names are not looked up in study_names' key:\n%s", plan)
					}
				})
			}
		}
	}
}

// worklistIndex is a new index holding n studies over 25 sites and five years, a tenth
// unread, a few urgent or quarantined, each with a series and its name keys (one in 2000
// named 张伟), analysed. The reading rows are written as the triggers would, with the
// triggers off for the load (session_replication_role), which is what makes n large
// enough for a benchmark affordable.
func worklistIndex(tb testing.TB, n int) *Index {
	tb.Helper()
	ctx := context.Background()
	x, err := Open(ctx, pgtest.DB(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { x.Close() })
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		`SET LOCAL session_replication_role = replica`,
		`INSERT INTO studies (study_uid, study_date, study_time, patient_name, patient_id, modalities_in_study, num_instances)
			SELECT '1.2.' || g, to_char(date '2021-01-01' + (g % 1800), 'YYYYMMDD'), '093000',
				CASE WHEN g % 2000 = 0 THEN '=张^伟' ELSE 'NAME^' || g END, 'P' || g, 'DX', 1
			FROM generate_series(1, $1::int) g`,
		`INSERT INTO series (study_pk, series_uid, modality, num_instances) SELECT id, study_uid || '.1', 'DX', 1 FROM studies`,
		`INSERT INTO study_names (attr, kind, key, study_pk) SELECT 1, 1, ascii_lower(split_part(patient_name, '=', 1)), id
			FROM studies WHERE patient_name NOT LIKE '=%'`,
		`INSERT INTO study_names (attr, kind, key, study_pk) SELECT 1, 1, '张^伟', id FROM studies WHERE patient_name LIKE '=%'`,
		`INSERT INTO study_names (attr, kind, key, study_pk) SELECT 1, 3, 'zhangwei', id FROM studies WHERE patient_name LIKE '=%'`,
		`INSERT INTO reading_studies (study_pk, study_uid, calling_ae, received_at, site_id, status, urgent, quarantined, study_at)
			SELECT id, study_uid, 'AE' || (id % 25), to_char(timestamp '2021-01-01' + id * interval '2 hours',
				'YYYY-MM-DD"T"HH24:MI:SS".000000000Z"'), 1 + id % 25,
				CASE WHEN id % 10 = 0 THEN 'unread' ELSE 'final' END,
				CASE WHEN id % 997 = 0 THEN 1 ELSE 0 END, CASE WHEN id % 1009 = 0 THEN 1 ELSE 0 END,
				study_date || study_time
			FROM studies`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, n)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			tb.Fatalf("%.60s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if _, err := x.db.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
		tb.Fatal(err)
	}
	return x
}

// BenchmarkWorklist measures a page of 50 rows (with their series) through Worklist on
// 100000 analysed studies: the first page, a site's, the unread ones', a name search and a
// page deep in the list.
func BenchmarkWorklist(b *testing.B) {
	ctx := context.Background()
	r := worklistIndex(b, 100000).Reading()
	deep, err := r.Worklist(ctx, reading.WorklistFilter{})
	if err != nil {
		b.Fatal(err)
	}
	for range 40 {
		if deep, err = r.Worklist(ctx, reading.WorklistFilter{After: deep.Next}); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range []struct {
		name string
		f    reading.WorklistFilter
	}{
		{"first", reading.WorklistFilter{}},
		{"site", reading.WorklistFilter{SiteID: 3}},
		{"unread", reading.WorklistFilter{Status: reading.StatusUnread}},
		{"study order", reading.WorklistFilter{Order: reading.OrderStudy}},
		{"name", reading.WorklistFilter{Query: "张"}},
		{"pinyin", reading.WorklistFilter{Query: "zhang wei"}},
		{"page 41", reading.WorklistFilter{After: deep.Next}},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				p, err := r.Worklist(ctx, f.f)
				if err != nil || len(p.Rows) == 0 {
					b.Fatalf("%d rows, %v", len(p.Rows), err)
				}
			}
		})
	}
}
