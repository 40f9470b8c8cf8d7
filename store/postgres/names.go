package postgres

import (
	"context"
	"database/sql"
	"strings"

	"pacsd/dicom"
	"pacsd/store/sqldb"
)

// writeNameKeys replaces the name keys of a study (sqldb.NameKeys), folded (sqldb.FoldKey).
func writeNameKeys(ctx context.Context, tx *sql.Tx, studyPK int64, patient, referring dicom.PersonName) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM study_names WHERE study_pk = $1", studyPK); err != nil {
		return dbErr("write name keys", err)
	}
	keys := append(sqldb.NameKeys(sqldb.AttrPatientName, patient), sqldb.NameKeys(sqldb.AttrReferring, referring)...)
	if len(keys) == 0 {
		return nil
	}
	// One statement of fixed text for all of them, as three arrays.
	attrs := make([]int16, len(keys))
	kinds := make([]int16, len(keys))
	texts := make([]string, len(keys))
	for i, k := range keys {
		attrs[i], kinds[i], texts[i] = int16(k.Attr), int16(k.Kind), sqldb.FoldKey(k.Key)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO study_names (attr, kind, key, study_pk)
		SELECT a, k, t, $4 FROM unnest($1::smallint[], $2::smallint[], $3::text[]) AS u (a, k, t)
		ON CONFLICT DO NOTHING`, attrs, kinds, texts, studyPK); err != nil {
		return dbErr("write name keys", err)
	}
	return nil
}

// nameSet is the set of studies whose name attr matches v (sqldb.NameLookups), as a
// SELECT of study_pk over study_names and its arguments: one range search of the primary
// key per value (per word when fuzzy), combined by UNION ('\'-separated values) and
// INTERSECT (the words of a fuzzy value). universal: v constrains nothing. ok false: a
// value could match an empty name, which has no key; the caller then matches the columns.
func nameSet(attr int, v string, fuzzy bool) (set string, args []any, universal, ok bool) {
	alts, universal, ok := sqldb.NameLookups(v, fuzzy)
	if universal || !ok {
		return "", nil, universal, ok
	}
	var sets []string
	for _, alt := range alts {
		var w []string
		for _, l := range alt {
			key := sqldb.FoldKey(l.Key)
			if l.Like {
				cond, a := likeCond("key", key)
				w = append(w, "SELECT DISTINCT study_pk FROM study_names WHERE attr = ? AND kind = ? AND "+cond)
				args = append(append(args, attr, l.Kind), a...)
			} else {
				w = append(w, "SELECT DISTINCT study_pk FROM study_names WHERE attr = ? AND kind = ? AND key = ?")
				args = append(args, attr, l.Kind, key)
			}
		}
		sets = append(sets, strings.Join(w, " INTERSECT "))
	}
	return strings.Join(sets, " UNION "), args, false, true
}
