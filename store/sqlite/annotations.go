package sqlite

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
// 0018_annotations.sql): one row per study holding the whole set as JSON, since the set is
// always read and written whole and never searched by its items.

func (r *Reading) Annotations(ctx context.Context, studyUID string) (reading.AnnotationSet, error) {
	var n int
	if err := r.x.r.QueryRowContext(ctx, `SELECT count(*) FROM reading_studies WHERE study_uid = ?`, studyUID).Scan(&n); err != nil {
		return reading.AnnotationSet{}, readingErr("annotations "+studyUID, err)
	}
	if n == 0 {
		return reading.AnnotationSet{}, fmt.Errorf("annotations: study %s: %w", studyUID, reading.ErrNotFound)
	}
	s, err := sqldb.ReadAnnotationSet(r.x.r.QueryRowContext(ctx, annotationSetQuery, studyUID), studyUID)
	if err != nil {
		return reading.AnnotationSet{}, readingErr("annotations "+studyUID, err)
	}
	return s, nil
}

const annotationSetQuery = `SELECT ` + sqldb.AnnotationSetCols + ` FROM annotation_sets WHERE study_uid = ?`

func (r *Reading) SaveAnnotations(ctx context.Context, studyUID string, base int, items []reading.Annotation, by reading.User, at time.Time) (reading.AnnotationSet, error) {
	items, body, err := sqldb.AnnotationItems(items)
	if err != nil {
		return reading.AnnotationSet{}, fmt.Errorf("save annotations %s: %w", studyUID, err)
	}
	var out reading.AnnotationSet
	err = r.x.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM reading_studies WHERE study_uid = ?`, studyUID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("study %s: %w", studyUID, reading.ErrNotFound)
		}
		cur, err := sqldb.ScanAnnotationSet(tx.QueryRow(annotationSetQuery, studyUID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = reading.AnnotationSet{StudyUID: studyUID}
		case err != nil:
			return err
		}
		if cur.Version != base {
			return fmt.Errorf("the annotations are at version %d, not %d: %w", cur.Version, base, reading.ErrConflict)
		}
		out = reading.AnnotationSet{StudyUID: studyUID, Version: base + 1, Items: items, UpdatedBy: by.ID,
			UpdatedByName: by.Name(), UpdatedAt: at, SeriesUID: cur.SeriesUID}
		// The SR of the version replaced stays in the archive; the new version has none yet.
		_, err = tx.Exec(`INSERT INTO annotation_sets (study_uid, version, items, updated_by, updated_by_name, updated_at,
			sop_uid, series_uid) VALUES (?, ?, ?, ?, ?, ?, '', ?)
			ON CONFLICT (study_uid) DO UPDATE SET version = excluded.version, items = excluded.items,
			updated_by = excluded.updated_by, updated_by_name = excluded.updated_by_name,
			updated_at = excluded.updated_at, sop_uid = ''`,
			studyUID, out.Version, body, by.ID, by.Name(), fmtTime(at), cur.SeriesUID)
		return err
	})
	if err != nil {
		return reading.AnnotationSet{}, readingErr("save annotations "+studyUID, err)
	}
	return out, nil
}

func (r *Reading) SetAnnotationObject(ctx context.Context, studyUID string, version int, sopUID, seriesUID string) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, reading.ErrNotFound, `UPDATE annotation_sets SET sop_uid = ?, series_uid = ?
			WHERE study_uid = ? AND version = ?`, sopUID, seriesUID, studyUID, version)
	})
	if err != nil {
		return readingErr("set annotation object "+studyUID, err)
	}
	return nil
}
