package postgres

import (
	"context"
	"database/sql"

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
