package postgres_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/postgres"
	"pacsd/store/sqldb"
)

// planStudies is how many studies loadPlanIndex writes: enough that a scan costs the
// planner more than an index (PostgreSQL, unlike SQLite, plans from statistics, so an
// empty table's plan says nothing).
// planStudies is enough studies that the planner's choices are those of a real archive:
// at 6,000 a township's unfiltered page was planned as a scan of every study once
// autovacuum had set the visibility map (a hash join is cheap over so few rows), which made
// the test pass or fail by autovacuum's timing; from about 9,000 on, the index walk wins.
const planStudies = 12000

var (
	planSurnames = [][2]string{{"Zhang", "张"}, {"Wang", "王"}, {"Li", "李"}, {"Zhao", "赵"}, {"Liu", "刘"},
		{"Chen", "陈"}, {"Yang", "杨"}, {"Huang", "黄"}, {"Zhou", "周"}, {"Wu", "吴"}, {"Xu", "徐"},
		{"Sun", "孙"}, {"Ma", "马"}, {"Zhu", "朱"}, {"Hu", "胡"}, {"Guo", "郭"}, {"He", "何"},
		{"Gao", "高"}, {"Lin", "林"}, {"Luo", "罗"}, {"Smith", ""}, {"Müller", ""}, {"Garcia", ""}, {"Brown", ""}}
	planGiven = [][2]string{{"Wei", "伟"}, {"Fang", "芳"}, {"Na", "娜"}, {"Min", "敏"}, {"Jing", "静"},
		{"Li", "丽"}, {"Qiang", "强"}, {"Lei", "磊"}, {"Jun", "军"}, {"Yang", "洋"}, {"Yong", "勇"},
		{"Yan", "艳"}, {"Jie", "杰"}, {"Tao", "涛"}, {"Ming", "明"}, {"Chao", "超"}, {"Xiu", "秀"}}
)

// loadPlanIndex fills an index with planStudies studies of two series of five instances
// each, with their name keys and reading-room rows (sites 1 to 10, a few quarantined), in a
// few statements, and has PostgreSQL analyze them.
func loadPlanIndex(t testing.TB) *postgres.Index {
	t.Helper()
	ctx := context.Background()
	x := openSearchIndex(t)
	db := x.DB()
	var (
		uids, dates, times, accs, pns, alphas, ideos, pids, mods []string
		keyStudy, keyText                                        []string
		keyAttr, keyKind                                         []int16
	)
	for i := range planStudies {
		sur := planSurnames[i%len(planSurnames)]
		giv := planGiven[(i/len(planSurnames))%len(planGiven)]
		p := dicom.PersonName{Alphabetic: sur[0] + "^" + giv[0]}
		if sur[1] != "" {
			p.Ideographic = sur[1] + "^" + giv[1]
		}
		c := sqldb.PNColumns(p)
		uid := fmt.Sprintf("1.2.826.0.1.%d", i)
		uids = append(uids, uid)
		dates = append(dates, fmt.Sprintf("%04d%02d%02d", 2015+i%10, 1+i%12, 1+i%28))
		times = append(times, fmt.Sprintf("%02d%02d00", i%24, i%60))
		accs = append(accs, fmt.Sprintf("A%06d", i))
		pns, alphas, ideos = append(pns, c.Full), append(alphas, c.Alpha), append(ideos, c.Ideo)
		pids = append(pids, fmt.Sprintf("P%05d", i/3))
		mods = append(mods, []string{`CT`, `MR`, `CR`, `CT\SR`, `DX`, `US`}[i%6])
		for _, k := range sqldb.NameKeys(sqldb.AttrPatientName, p) {
			keyStudy, keyText = append(keyStudy, uid), append(keyText, sqldb.FoldKey(k.Key))
			keyAttr, keyKind = append(keyAttr, int16(k.Attr)), append(keyKind, int16(k.Kind))
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%v: %.200s", err, q)
		}
	}
	exec(`INSERT INTO studies (study_uid, study_date, study_time, accession_number, patient_name, pn_alpha,
		pn_ideo, patient_id, modalities_in_study, num_series, num_instances)
		SELECT u, d, tm, a, pn, al, id, p, m, 2, 10
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
			AS r (u, d, tm, a, pn, al, id, p, m)`, uids, dates, times, accs, pns, alphas, ideos, pids, mods)
	exec(`INSERT INTO series (study_pk, series_uid, modality, series_number, num_instances)
		SELECT s.id, s.study_uid || '.' || n, split_part(s.modalities_in_study, '\', n), n, 5
		FROM studies s, generate_series(1, 2) n`)
	exec(`UPDATE series SET modality = 'CT' WHERE modality = ''`)
	exec(`INSERT INTO instances (series_pk, sop_uid, instance_number, blob_key, size, sha256, received_at, site)
		SELECT se.id, se.series_uid || '.' || n, n, 'k/' || se.series_uid || '.' || n, 1000, 'x', '2024', 'site:1'
		FROM series se, generate_series(1, 5) n`)
	exec(`INSERT INTO study_names (attr, kind, key, study_pk)
		SELECT a, k, key, s.id FROM unnest($1::smallint[], $2::smallint[], $3::text[], $4::text[]) AS r (a, k, key, u)
		JOIN studies s ON s.study_uid = r.u ON CONFLICT DO NOTHING`, keyAttr, keyKind, keyText, keyStudy)
	// The reading room's trigger made their rows (without a site: no peer sent them).
	exec(`INSERT INTO reading_studies (study_pk, study_uid, site_id, quarantined)
		SELECT id, study_uid, 1 + id % 10, CASE WHEN id % 1000 = 0 THEN 1 ELSE 0 END FROM studies
		ON CONFLICT (study_pk) DO UPDATE SET site_id = excluded.site_id, quarantined = excluded.quarantined`)
	// VACUUM as well as ANALYZE: the plans are read with the visibility map set, as
	// autovacuum leaves a real database, not in whatever state its timing leaves this one.
	exec(`VACUUM ANALYZE`)
	return x
}

// planNode is a node of EXPLAIN (FORMAT JSON)'s plan tree.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// explain is the plan of q on conn, under plan_cache_mode mode: force_custom_plan plans
// for the values given, force_generic_plan as a prepared statement reused for any values
// would be (what a long-lived connection may switch to).
func explain(t *testing.T, conn *sql.Conn, mode, q string, args ...any) planNode {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = "+mode); err != nil {
		t.Fatal(err)
	}
	var out string
	if err := conn.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&out); err != nil {
		t.Fatalf("explain: %v\n%s", err, q)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output %q: %v", out, err)
	}
	return plans[0].Plan
}

// TestSearchPlans keeps every search a client can make off full scans of the index's
// tables: at a region's millions of instances a scan is seconds, an index probe
// milliseconds. Each query is planned for its values and as a generic plan.
func TestSearchPlans(t *testing.T) {
	x := loadPlanIndex(t)
	conn, err := x.DB().Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := func(tag dicom.Tag, v string) []store.Match { return []store.Match{{Tag: tag, Value: v}} }
	for _, tc := range []struct {
		name string
		q    store.Query
		uses string // an index the plan must use, when one is the point
	}{
		{"worklist page", store.Query{Level: store.LevelStudy, Limit: 50}, "studies_order"},
		{"patient id", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientID, "P00042")}, "studies_patient_id"},
		{"patient id prefix", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientID, "P0004*")}, "studies_patient_id"},
		{"accession", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagAccessionNumber, "A000100")}, "studies_accession"},
		{"study uid list", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagStudyInstanceUID, `1.2.826.0.1.5\1.2.826.0.1.7`)}, "studies_study_uid_key"},
		{"study date range", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagStudyDate, "20240101-20240103")}, "studies_order"},
		{"patient name chinese prefix", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, "张*")}, "study_names_pkey"},
		{"patient name prefix", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, "zhang*")}, "study_names_pkey"},
		{"patient name exact", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, "Zhang^Wei")}, "study_names_pkey"},
		{"patient name whole value", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, "Zhang^Wei=张^伟")}, "study_names_pkey"},
		{"patient name list", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, `张伟\李*`)}, "study_names_pkey"},
		{"patient name fuzzy", store.Query{Level: store.LevelStudy, Fuzzy: true, Matches: m(dicom.TagPatientName, "zhang")}, "study_names_pkey"},
		{"patient name fuzzy two words", store.Query{Level: store.LevelStudy, Fuzzy: true, Matches: m(dicom.TagPatientName, "zhang wei")}, "study_names_pkey"},
		{"patient name first page", store.Query{Level: store.LevelStudy, Limit: 50, Matches: m(dicom.TagPatientName, "张*")}, ""},
		{"patient name and date", store.Query{Level: store.LevelStudy, Matches: []store.Match{
			{Tag: dicom.TagPatientName, Value: "zhang*"}, {Tag: dicom.TagStudyDate, Value: "20240101-20240131"}}}, ""},
		{"modalities in study", store.Query{Level: store.LevelStudy, Limit: 50, Matches: m(dicom.TagModalitiesInStudy, "SR")}, ""},
		{"series of a study", store.Query{Level: store.LevelSeries, StudyInstanceUID: "1.2.826.0.1.5"}, "studies_study_uid_key"},
		{"series by uid", store.Query{Level: store.LevelSeries, Matches: m(dicom.TagSeriesInstanceUID, "1.2.826.0.1.5.1")}, "series_uid"},
		{"instances of a series", store.Query{Level: store.LevelInstance, StudyInstanceUID: "1.2.826.0.1.5", SeriesInstanceUID: "1.2.826.0.1.5.1"}, ""},
		{"instance by uid", store.Query{Level: store.LevelInstance, Matches: m(dicom.TagSOPInstanceUID, "1.2.826.0.1.5.1.3")}, "instances_sop_uid_key"},
		{"series by patient name", store.Query{Level: store.LevelSeries, Matches: m(dicom.TagPatientName, "张*")}, "study_names_pkey"},
		{"instances by patient name", store.Query{Level: store.LevelInstance, Matches: m(dicom.TagPatientName, "张伟")}, "study_names_pkey"},
		{"patients", store.Query{Level: store.LevelPatient, Limit: 50}, ""},
		{"patient by id", store.Query{Level: store.LevelPatient, Matches: m(dicom.TagPatientID, "P00042")}, "studies_patient_id"},
		{"patient by name prefix", store.Query{Level: store.LevelPatient, Matches: m(dicom.TagPatientName, "张*")}, "study_names_pkey"},
		{"site: worklist page", store.Query{Level: store.LevelStudy, Limit: 50, SiteID: 3}, ""},
		{"site: patient id", store.Query{Level: store.LevelStudy, SiteID: 3, Matches: m(dicom.TagPatientID, "P00042")}, "studies_patient_id"},
		{"site: study date range", store.Query{Level: store.LevelStudy, SiteID: 3, Matches: m(dicom.TagStudyDate, "20240101-20240103")}, ""},
		{"site: patient name", store.Query{Level: store.LevelStudy, SiteID: 3, Matches: m(dicom.TagPatientName, "张*")}, "study_names_pkey"},
		{"site: series of a study", store.Query{Level: store.LevelSeries, SiteID: 3, StudyInstanceUID: "1.2.826.0.1.5"}, ""},
		{"site: patient by name", store.Query{Level: store.LevelPatient, SiteID: 3, Matches: m(dicom.TagPatientName, "张*")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sqlText, args, err := postgres.BuildSearch(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				plan := explain(t, conn, mode, sqlText, args...)
				var scans, indexes []string
				plan.walk(func(n planNode) {
					if n.NodeType == "Seq Scan" {
						scans = append(scans, n.Relation)
					}
					if n.Index != "" {
						indexes = append(indexes, n.Index)
					}
				})
				for _, rel := range scans {
					switch rel {
					case "studies", "series", "instances", "study_names":
						t.Errorf("%s: full scan of %s (indexes used: %v)\n%s", mode, rel, indexes, sqlText)
					}
				}
				if tc.uses != "" && !strings.Contains(strings.Join(indexes, " "), tc.uses) {
					t.Errorf("%s: plan does not use %s but %v\n%s", mode, tc.uses, indexes, sqlText)
				}
			}
		})
	}
}
