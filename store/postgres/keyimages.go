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

// A study's key images (reading.KeyImages, migration 0004_reading_features.sql): one row per
// study holding the current set as JSON, replaced by a conditional write on the revision it
// was based on (as the annotations are).

func (r *Reading) KeyImages(ctx context.Context, studyUID string) (reading.KeySet, error) {
	s, err := sqldb.ReadKeySet(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.KeySetCols+`
		FROM key_image_sets WHERE study_uid = $1`, studyUID), studyUID)
	if err != nil {
		return reading.KeySet{}, readingErr("key images "+studyUID, err)
	}
	return s, nil
}

func (r *Reading) SetKeyImages(ctx context.Context, s reading.KeySet, base int) (reading.KeySet, error) {
	body, err := sqldb.KeyImagesBody(&s)
	if err != nil {
		return reading.KeySet{}, fmt.Errorf("set key images %s: %w", s.StudyUID, err)
	}
	s.Revision = base + 1
	err = r.x.inTx(ctx, func(tx *sql.Tx) error {
		if err := readingStudyExists(ctx, tx, s.StudyUID); err != nil {
			return err
		}
		q := `INSERT INTO key_image_sets (study_uid, revision, images, object_uid, series_uid, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (study_uid) DO NOTHING`
		args := []any{s.StudyUID, s.Revision, body, s.ObjectUID, s.SeriesUID, sqldb.FormatTime(time.Now())}
		if base != 0 {
			q = `UPDATE key_image_sets SET revision = $2, images = $3, object_uid = $4, series_uid = $5,
				updated_at = $6 WHERE study_uid = $1 AND revision = $7`
			args = append(args, base)
		}
		err := sqldb.ExecExisting(ctx, tx, reading.ErrConflict, q, args...)
		if errors.Is(err, reading.ErrConflict) {
			var cur int
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(revision), 0) FROM key_image_sets
				WHERE study_uid = $1`, s.StudyUID).Scan(&cur); err != nil {
				return err
			}
			return fmt.Errorf("the key images are at revision %d, not %d: %w", cur, base, reading.ErrConflict)
		}
		return err
	})
	if err != nil {
		return reading.KeySet{}, readingErr("set key images "+s.StudyUID, err)
	}
	return s, nil
}
