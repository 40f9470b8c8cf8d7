package sqlite

import (
	"context"
	"fmt"
)

// StudySites implements store.IndexReader: the distinct sites of the study's current
// instances, from the instances' series (indexed by study).
func (x *Index) StudySites(ctx context.Context, studyUID string) ([]string, error) {
	rows, err := x.r.QueryContext(ctx, `SELECT DISTINCT i.site FROM studies st
		JOIN series se ON se.study_pk = st.id JOIN instances i ON i.series_pk = se.id
		WHERE st.study_uid = ? ORDER BY i.site`, studyUID)
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
