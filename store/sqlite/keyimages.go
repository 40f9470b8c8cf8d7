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

// A study's key images (reading.KeyImages, migration 0019_key_images.sql): one row per
// study holding the current set as JSON.

const keySetQuery = `SELECT ` + sqldb.KeySetCols + ` FROM key_image_sets WHERE study_uid = ?`

func (r *Reading) KeyImages(ctx context.Context, studyUID string) (reading.KeySet, error) {
	s, err := sqldb.ReadKeySet(r.x.r.QueryRowContext(ctx, keySetQuery, studyUID), studyUID)
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
	err = r.x.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM reading_studies WHERE study_uid = ?`, s.StudyUID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("study %s: %w", s.StudyUID, reading.ErrNotFound)
		}
		var cur int
		err := tx.QueryRow(`SELECT revision FROM key_image_sets WHERE study_uid = ?`, s.StudyUID).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if cur != base {
			return fmt.Errorf("the key images are at revision %d, not %d: %w", cur, base, reading.ErrConflict)
		}
		_, err = tx.Exec(`INSERT INTO key_image_sets (study_uid, revision, images, object_uid, series_uid, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (study_uid) DO UPDATE SET revision = excluded.revision, images = excluded.images,
			object_uid = excluded.object_uid, series_uid = excluded.series_uid, updated_at = excluded.updated_at`,
			s.StudyUID, s.Revision, body, s.ObjectUID, s.SeriesUID, fmtTime(time.Now()))
		return err
	})
	if err != nil {
		return reading.KeySet{}, readingErr("set key images "+s.StudyUID, err)
	}
	return s, nil
}
