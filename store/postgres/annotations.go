package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// The reading room's measurements and annotations (reading.Annotations, migration
// 0004_reading_features.sql): one row per study holding the whole set as JSON. A save is a
// conditional write on the version it was based on, so that of two nodes saving one study
// at once exactly one wins and the other gets ErrConflict.

func (r *Reading) Annotations(ctx context.Context, studyUID string) (reading.AnnotationSet, error) {
	if err := readingStudyExists(ctx, r.x.db, studyUID); err != nil {
		return reading.AnnotationSet{}, readingErr("annotations", err)
	}
	s, err := sqldb.ReadAnnotationSet(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.AnnotationSetCols+`
		FROM annotation_sets WHERE study_uid = $1`, studyUID), studyUID)
	if err != nil {
		return reading.AnnotationSet{}, readingErr("annotations "+studyUID, err)
	}
	return s, nil
}

func (r *Reading) SaveAnnotations(ctx context.Context, studyUID string, base int, items []reading.Annotation, by reading.User, at time.Time) (reading.AnnotationSet, error) {
	items, body, err := sqldb.AnnotationItems(items)
	if err != nil {
		return reading.AnnotationSet{}, fmt.Errorf("save annotations %s: %w", studyUID, err)
	}
	out := reading.AnnotationSet{StudyUID: studyUID, Version: base + 1, Items: items, UpdatedBy: by.ID,
		UpdatedByName: by.Name(), UpdatedAt: at}
	err = r.x.inTx(ctx, func(tx *sql.Tx) error {
		if err := readingStudyExists(ctx, tx, studyUID); err != nil {
			return err
		}
		// The first save inserts, a later one updates the version it read: either finds the
		// row changed when another save came first (the insert's conflict, the update's
		// WHERE re-checked on the row it waited for). The SR of the version replaced stays in
		// the archive; the new version has none yet.
		q := `INSERT INTO annotation_sets (study_uid, version, items, updated_by, updated_by_name, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (study_uid) DO NOTHING RETURNING series_uid`
		args := []any{studyUID, out.Version, body, by.ID, by.Name(), sqldb.FormatTime(at)}
		if base != 0 {
			q = `UPDATE annotation_sets SET version = $2, items = $3, updated_by = $4, updated_by_name = $5,
				updated_at = $6, sop_uid = '' WHERE study_uid = $1 AND version = $7 RETURNING series_uid`
			args = append(args, base)
		}
		err := tx.QueryRowContext(ctx, q, args...).Scan(&out.SeriesUID)
		if errors.Is(err, sql.ErrNoRows) {
			var cur int
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM annotation_sets
				WHERE study_uid = $1`, studyUID).Scan(&cur); err != nil {
				return err
			}
			return fmt.Errorf("the annotations are at version %d, not %d: %w", cur, base, reading.ErrConflict)
		}
		return err
	})
	if err != nil {
		return reading.AnnotationSet{}, readingErr("save annotations "+studyUID, err)
	}
	return out, nil
}

func (r *Reading) SetAnnotationObject(ctx context.Context, studyUID string, version int, sopUID, seriesUID string) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE annotation_sets SET sop_uid = $1, series_uid = $2
			WHERE study_uid = $3 AND version = $4`, sopUID, seriesUID, studyUID, version)
	})
	if err != nil {
		return readingErr("set annotation object "+studyUID, err)
	}
	return nil
}

// readingStudyExists is nil when the reading room knows the study, an ErrNotFound naming it
// otherwise.
func readingStudyExists(ctx context.Context, q queryer, studyUID string) error {
	var ok bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM reading_studies WHERE study_uid = $1)`,
		studyUID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("study %s: %w", studyUID, reading.ErrNotFound)
	}
	return nil
}
