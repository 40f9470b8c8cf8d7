package sqlite

import (
	"context"
	"fmt"
)

// studySitesQuery lists the distinct sites of a study's current instances without reading
// them all: for each of the study's series, the smallest site, then the smallest greater
// than that, and so on (a skip scan of instances_series_site, 0022_instances_site.sql):
// a few index seeks whatever the study's size. The index is partial (every row: each site
// is a string, so not below the empty one) and named, so that other queries on a series'
// instances keep instances_order.
const studySitesQuery = `WITH RECURSIVE sites (series_pk, site) AS (
	SELECT se.id, (SELECT min(i.site) FROM instances i INDEXED BY instances_series_site
			WHERE i.series_pk = se.id AND i.site >= '')
		FROM studies st JOIN series se ON se.study_pk = st.id WHERE st.study_uid = ?
	UNION ALL
	SELECT s.series_pk, (SELECT min(i.site) FROM instances i INDEXED BY instances_series_site
			WHERE i.series_pk = s.series_pk AND i.site > s.site AND i.site >= '')
		FROM sites s WHERE s.site IS NOT NULL
) SELECT DISTINCT site FROM sites WHERE site IS NOT NULL ORDER BY site`

// StudySites implements store.IndexReader: the distinct sites of the study's current
// instances (studySitesQuery).
func (x *Index) StudySites(ctx context.Context, studyUID string) ([]string, error) {
	rows, err := x.stmts.query(ctx, x.r, studySitesQuery, studyUID) // prepared once: parsing the query costs more than running it
	if err != nil {
		return nil, dbErr(fmt.Sprintf("sites of study %s", studyUID), err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, dbErr("scan site", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(fmt.Sprintf("sites of study %s", studyUID), err)
	}
	return out, nil
}
