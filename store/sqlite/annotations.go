package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"pacsd/reading"
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
	s, err := scanAnnotationSet(r.x.r.QueryRowContext(ctx, annotationSetQuery, studyUID))
	if errors.Is(err, sql.ErrNoRows) {
		return reading.AnnotationSet{StudyUID: studyUID, Items: []reading.Annotation{}}, nil
	}
	if err != nil {
		return reading.AnnotationSet{}, readingErr("annotations "+studyUID, err)
	}
	return s, nil
}

const annotationSetQuery = `SELECT study_uid, version, items, updated_by, updated_by_name, updated_at, sop_uid,
	series_uid FROM annotation_sets WHERE study_uid = ?`

func scanAnnotationSet(row interface{ Scan(...any) error }) (reading.AnnotationSet, error) {
	var s reading.AnnotationSet
	var items, at string
	if err := row.Scan(&s.StudyUID, &s.Version, &items, &s.UpdatedBy, &s.UpdatedByName, &at, &s.SOPInstanceUID,
		&s.SeriesUID); err != nil {
		return reading.AnnotationSet{}, err
	}
	if err := json.Unmarshal([]byte(items), &s.Items); err != nil {
		return reading.AnnotationSet{}, fmt.Errorf("stored annotations: %w", err)
	}
	if s.Items == nil {
		s.Items = []reading.Annotation{}
	}
	s.UpdatedAt = parseTime(at)
	return s, nil
}

func (r *Reading) SaveAnnotations(ctx context.Context, studyUID string, base int, items []reading.Annotation, by reading.User, at time.Time) (reading.AnnotationSet, error) {
	if err := reading.CheckAnnotations(items); err != nil {
		return reading.AnnotationSet{}, fmt.Errorf("save annotations %s: %w", studyUID, err)
	}
	if items == nil {
		items = []reading.Annotation{}
	}
	body, err := json.Marshal(items)
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
		cur, err := scanAnnotationSet(tx.QueryRow(annotationSetQuery, studyUID))
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
			studyUID, out.Version, string(body), by.ID, by.Name(), fmtTime(at), cur.SeriesUID)
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
