package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/sqldb"
)

// timeFormat is fixed-width so that received_at sorts as text.
const timeFormat = sqldb.TimeFormat

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// PutInstance records inst (see store.Index). The study row takes the attributes of inst
// merged over its own (mergeStudy), the series row those of inst; derived counts are
// recomputed in the same transaction. The record replaced is kept as a version (keepVersion).
func (x *Index) PutInstance(ctx context.Context, inst *store.Instance) (*store.Instance, error) {
	if inst == nil {
		return nil, fmt.Errorf("put instance: missing UID or blob key: %w", store.ErrInvalid)
	}
	return x.putInstance(ctx, inst, inst.ReceivedAt, inst.Origin.Who(), nil)
}

// putInstance is PutInstance; the record it replaces is kept as a version replaced at `at`
// by `by`. check, when given, runs first in the transaction with the current record (nil
// when none), and its error aborts the write (RestoreVersion's).
func (x *Index) putInstance(ctx context.Context, inst *store.Instance, at time.Time, by string,
	check func(tx *sql.Tx, current *store.Instance) error) (*store.Instance, error) {
	if inst == nil || inst.StudyInstanceUID == "" || inst.SeriesInstanceUID == "" ||
		inst.SOPInstanceUID == "" || inst.BlobKey == "" {
		return nil, fmt.Errorf("put instance: missing UID or blob key: %w", store.ErrInvalid)
	}
	cols, err := sqldb.ColumnsOf(inst)
	if err != nil {
		return nil, fmt.Errorf("put instance %s: %w", inst.SOPInstanceUID, err)
	}
	var prev *store.Instance
	err = x.write(ctx, func(tx *sql.Tx) error {
		prev = nil
		p, prevSeries, err := loadInstance(context.Background(), tx, inst.SOPInstanceUID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if check != nil {
			if err := check(tx, p); err != nil {
				return err
			}
		}
		if err := keepVersion(tx, p, inst, at, by); err != nil {
			return err
		}
		cols, err := mergeStudy(tx, inst, cols)
		if err != nil {
			return err
		}
		studyPK, err := upsertStudy(tx, inst, cols)
		if err != nil {
			return err
		}
		seriesPK, err := upsertSeries(tx, studyPK, inst, cols)
		if err != nil {
			return err
		}
		if p == nil {
			_, err = tx.Exec(`INSERT INTO instances (series_pk, sop_uid, sop_class_uid, instance_number,
				transfer_syntax, blob_key, size, sha256, dataset_offset, calling_ae, called_ae, remote_addr,
				transport, site, received_at, attrs, uploaded, evicted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
				seriesPK, inst.SOPInstanceUID, inst.SOPClassUID, cols.InstanceNumber, inst.TransferSyntaxUID,
				inst.BlobKey, inst.Size, inst.SHA256, inst.DatasetOffset, inst.Origin.CallingAE,
				inst.Origin.CalledAE, inst.Origin.RemoteAddr, inst.Origin.Transport, inst.Origin.Site,
				cols.ReceivedAt, cols.InstanceAttrs, inst.Uploaded, inst.Evicted)
		} else {
			_, err = tx.Exec(`UPDATE instances SET series_pk=?, sop_class_uid=?, instance_number=?,
				transfer_syntax=?, blob_key=?, size=?, sha256=?, dataset_offset=?, calling_ae=?, called_ae=?,
				remote_addr=?, transport=?, site=?, received_at=?, attrs=?, uploaded=?, evicted=? WHERE sop_uid=?`,
				seriesPK, inst.SOPClassUID, cols.InstanceNumber, inst.TransferSyntaxUID,
				inst.BlobKey, inst.Size, inst.SHA256, inst.DatasetOffset, inst.Origin.CallingAE,
				inst.Origin.CalledAE, inst.Origin.RemoteAddr, inst.Origin.Transport, inst.Origin.Site,
				cols.ReceivedAt, cols.InstanceAttrs, inst.Uploaded, inst.Evicted, inst.SOPInstanceUID)
		}
		if err != nil {
			return dbErr("write instance", err)
		}
		if inst.Origin.Quarantined { // from an unknown sender held for an administrator (0009_peers.sql)
			// Only a study this object begins is held: an unknown sender must not be able to
			// hide a known site's study from its readers by adding one object to it.
			if _, err := tx.Exec(`UPDATE reading_studies SET quarantined = 1 WHERE study_pk = ?
				AND NOT EXISTS (SELECT 1 FROM instances i JOIN series se ON se.id = i.series_pk
					WHERE se.study_pk = ? AND i.sop_uid <> ?)`, studyPK, studyPK, inst.SOPInstanceUID); err != nil {
				return dbErr("quarantine study", err)
			}
		}
		if err := refreshSeries(tx, seriesPK, studyPK); err != nil {
			return err
		}
		if check == nil { // a new object, not a restored version: forward it (forward.go)
			if err := enqueueForwards(tx, inst, cols.Modality); err != nil {
				return err
			}
		}
		if p != nil && prevSeries.Series != seriesPK {
			// The instance moved (a corrected study or series UID): the old parents may
			// now be empty.
			if err := refreshSeries(tx, prevSeries.Series, prevSeries.Study); err != nil {
				return err
			}
		}
		prev = p
		return nil
	})
	if err != nil {
		return nil, dbErr("put instance "+inst.SOPInstanceUID, err)
	}
	return prev, nil
}

// DeleteInstance removes the record and any series and study it leaves empty.
func (x *Index) DeleteInstance(ctx context.Context, sopInstanceUID string) error {
	err := x.write(ctx, func(tx *sql.Tx) error {
		var seriesPK, studyPK int64
		err := tx.QueryRow(`SELECT i.series_pk, se.study_pk FROM instances i
			JOIN series se ON se.id = i.series_pk WHERE i.sop_uid = ?`, sopInstanceUID).Scan(&seriesPK, &studyPK)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return dbErr("find instance", err)
		}
		if _, err := tx.Exec("DELETE FROM instances WHERE sop_uid = ?", sopInstanceUID); err != nil {
			return dbErr("delete instance", err)
		}
		return refreshSeries(tx, seriesPK, studyPK)
	})
	if err != nil {
		return dbErr("delete instance "+sopInstanceUID, err)
	}
	return nil
}

// mergeStudy merges the study's stored attributes into those of the instance arriving:
// what the instance carries wins (a corrected re-send corrects), what it lacks is kept.
// Devices do not all fill the study module alike: a report or a secondary capture sent
// after the images often lacks the Study Description or the Accession Number, and must
// not blank them in every search. Nothing is decoded in the usual case, where the new
// instance carries every attribute the study has, and nothing is parsed in the commonest,
// where it carries the same ones.
func mergeStudy(tx *sql.Tx, inst *store.Instance, c *sqldb.Columns) (*sqldb.Columns, error) {
	var old string
	err := tx.QueryRow("SELECT attrs FROM studies WHERE study_uid = ?", inst.StudyInstanceUID).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return c, nil
	case err != nil:
		return nil, dbErr("read study attributes", err)
	case old == c.StudyAttrs:
		return c, nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(old), &keys); err != nil {
		return nil, fmt.Errorf("stored attributes of study %s: %w", inst.StudyInstanceUID, err)
	}
	lacks := false
	for k := range keys {
		if _, ok := inst.StudyAttrs[k]; !ok {
			lacks = true
			break
		}
	}
	if !lacks {
		return c, nil
	}
	merged, err := dicom.ParseJSON([]byte(old))
	if err != nil {
		return nil, fmt.Errorf("stored attributes of study %s: %w", inst.StudyInstanceUID, err)
	}
	maps.Copy(merged, inst.StudyAttrs)
	with := *inst
	with.StudyAttrs = merged
	mc, err := sqldb.ColumnsOf(&with)
	if err != nil {
		return nil, fmt.Errorf("merged attributes of study %s: %w", inst.StudyInstanceUID, err)
	}
	mc.ReceivedAt = c.ReceivedAt
	return mc, nil
}

func upsertStudy(tx *sql.Tx, inst *store.Instance, c *sqldb.Columns) (int64, error) {
	// The name keys are rewritten only when a name changes: most instances repeat their
	// study's names.
	var oldPN, oldRP string
	err := tx.QueryRow("SELECT patient_name, referring_physician_name FROM studies WHERE study_uid = ?",
		inst.StudyInstanceUID).Scan(&oldPN, &oldRP)
	namesChanged := errors.Is(err, sql.ErrNoRows) || oldPN != c.PatientName.Full || oldRP != c.Referring.Full
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, dbErr("read study names", err)
	}
	var pk int64
	err = tx.QueryRow(`INSERT INTO studies (study_uid, study_date, study_time, accession_number,
		patient_name, pn_alpha, pn_ideo, pn_phon, pn_fuzzy, patient_id, patient_birth_date, patient_sex,
		referring_physician_name, rp_alpha, rp_ideo, rp_phon, rp_fuzzy, study_id, study_description,
		institution_name, attrs, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (study_uid) DO UPDATE SET study_date=excluded.study_date,
		study_time=excluded.study_time, accession_number=excluded.accession_number,
		patient_name=excluded.patient_name, pn_alpha=excluded.pn_alpha, pn_ideo=excluded.pn_ideo,
		pn_phon=excluded.pn_phon, pn_fuzzy=excluded.pn_fuzzy, patient_id=excluded.patient_id,
		patient_birth_date=excluded.patient_birth_date, patient_sex=excluded.patient_sex,
		referring_physician_name=excluded.referring_physician_name, rp_alpha=excluded.rp_alpha,
		rp_ideo=excluded.rp_ideo, rp_phon=excluded.rp_phon, rp_fuzzy=excluded.rp_fuzzy,
		study_id=excluded.study_id, study_description=excluded.study_description,
		institution_name=excluded.institution_name, attrs=excluded.attrs, updated_at=excluded.updated_at
		RETURNING id`,
		inst.StudyInstanceUID, c.StudyDate, c.StudyTime, c.Accession,
		c.PatientName.Full, c.PatientName.Alpha, c.PatientName.Ideo, c.PatientName.Phon, c.PatientName.Fuzzy,
		c.PatientID, c.BirthDate, c.Sex,
		c.Referring.Full, c.Referring.Alpha, c.Referring.Ideo, c.Referring.Phon, c.Referring.Fuzzy,
		c.StudyID, c.StudyDescription, c.Institution, c.StudyAttrs, c.ReceivedAt).Scan(&pk)
	if err != nil {
		return 0, dbErr("write study", err)
	}
	if namesChanged {
		if err := writeNameKeys(tx, pk, c.PatientName.Name(), c.Referring.Name()); err != nil {
			return 0, err
		}
	}
	return pk, nil
}

func upsertSeries(tx *sql.Tx, studyPK int64, inst *store.Instance, c *sqldb.Columns) (int64, error) {
	var pk int64
	err := tx.QueryRow(`INSERT INTO series (study_pk, series_uid, modality, series_number,
		series_description, body_part, pps_start_date, pps_start_time, attrs)
		VALUES (?,?,?,?,?,?,?,?,?)
		ON CONFLICT (study_pk, series_uid) DO UPDATE SET modality=excluded.modality,
		series_number=excluded.series_number, series_description=excluded.series_description,
		body_part=excluded.body_part, pps_start_date=excluded.pps_start_date,
		pps_start_time=excluded.pps_start_time, attrs=excluded.attrs
		RETURNING id`,
		studyPK, inst.SeriesInstanceUID, c.Modality, c.SeriesNumber, c.SeriesDescription,
		c.BodyPart, c.PPSDate, c.PPSTime, c.SeriesAttrs).Scan(&pk)
	if err != nil {
		return 0, dbErr("write series", err)
	}
	return pk, nil
}

// refreshSeries recomputes the derived attributes of a series and its study, removing them
// when they have become empty.
func refreshSeries(tx *sql.Tx, seriesPK, studyPK int64) error {
	if _, err := tx.Exec(`UPDATE series SET num_instances =
		(SELECT count(*) FROM instances WHERE series_pk = series.id) WHERE id = ?`, seriesPK); err != nil {
		return dbErr("count series instances", err)
	}
	if _, err := tx.Exec("DELETE FROM series WHERE id = ? AND num_instances = 0", seriesPK); err != nil {
		return dbErr("delete empty series", err)
	}
	if _, err := tx.Exec(`UPDATE studies SET
		num_series = (SELECT count(*) FROM series WHERE study_pk = studies.id),
		num_instances = (SELECT coalesce(sum(num_instances), 0) FROM series WHERE study_pk = studies.id),
		modalities_in_study = (SELECT coalesce(group_concat(modality, '\' ORDER BY modality), '')
			FROM (SELECT DISTINCT modality FROM series WHERE study_pk = studies.id AND modality <> ''))
		WHERE id = ?`, studyPK); err != nil {
		return dbErr("count study series", err)
	}
	if _, err := tx.Exec("DELETE FROM studies WHERE id = ? AND num_series = 0", studyPK); err != nil {
		return dbErr("delete empty study", err)
	}
	return nil
}

func loadInstance(ctx context.Context, q queryer, sopUID string) (*store.Instance, sqldb.Parents, error) {
	in, p, err := sqldb.ScanInstance(q.QueryRowContext(ctx, sqldb.InstanceSelect+"WHERE i.sop_uid = ?", sopUID), sqldb.DecodeCache{})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, p, fmt.Errorf("instance %s: %w", sopUID, store.ErrNotFound)
	}
	if err != nil {
		return nil, p, dbErr("read instance "+sopUID, err)
	}
	return in, p, nil
}

// Instance returns the record of one SOP instance, or an error wrapping store.ErrNotFound.
func (x *Index) Instance(ctx context.Context, sopInstanceUID string) (*store.Instance, error) {
	in, _, err := loadInstance(ctx, x.r, sopInstanceUID)
	return in, err
}

// Instances lists the instances of a study (or one of its series) in series number,
// series UID, instance number, SOP Instance UID order (absent numbers last).
func (x *Index) Instances(ctx context.Context, studyUID, seriesUID string) ([]*store.Instance, error) {
	where, args := sqldb.InstancesOf(studyUID, seriesUID)
	out, err := sqldb.QueryAll(ctx, x.r, dbErr, "list instances", sqldb.InstanceScanner(), sqldb.InstanceSelect+where, args...)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("instances of study %s series %q: %w", studyUID, seriesUID, store.ErrNotFound)
	}
	return out, nil
}

// BlobRefs calls fn for the references filter selects (see store.Index). The read runs in
// one transaction (a consistent snapshot) and fn runs while it is open, so fn must not wait
// for this index's writes to become visible.
func (x *Index) BlobRefs(ctx context.Context, filter store.RefFilter, limit int, fn func(store.BlobRef) error) error {
	q, args, err := sqldb.BlobRefsQuery(filter, limit, "uploaded = 0", "uploaded = 1 AND evicted = 0", "?")
	if err != nil {
		return err
	}
	return sqldb.EachRow(ctx, x.r, dbErr, "list blob refs", q, args, sqldb.ScanBlobRef, fn)
}

// MarkUploaded records the upload of blobKey (see store.Index).
func (x *Index) MarkUploaded(ctx context.Context, sopInstanceUID, blobKey string) error {
	return x.mark(ctx, "mark uploaded", sopInstanceUID, blobKey,
		"UPDATE instances SET uploaded = 1 WHERE sop_uid = ? AND blob_key = ?")
}

// MarkEvicted records that the local copy of an uploaded blob is gone (see store.Index).
func (x *Index) MarkEvicted(ctx context.Context, sopInstanceUID, blobKey string) error {
	return x.mark(ctx, "mark evicted", sopInstanceUID, blobKey,
		"UPDATE instances SET evicted = 1 WHERE sop_uid = ? AND blob_key = ? AND uploaded = 1 AND evicted = 0")
}

func (x *Index) mark(ctx context.Context, op, sop, key, stmt string) error {
	err := x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, fmt.Errorf("instance %s with blob %s: %w", sop, key, store.ErrNotFound), stmt, sop, key)
	})
	if err != nil {
		return dbErr(op+" "+sop, err)
	}
	return nil
}

// Usage sums the instances by location in one pass over the instances table.
func (x *Index) Usage(ctx context.Context) (store.Usage, error) {
	var u store.Usage
	err := x.r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0),
		coalesce(sum(uploaded = 0), 0), coalesce(sum(CASE WHEN uploaded = 0 THEN size END), 0),
		coalesce(sum(evicted = 0), 0), coalesce(sum(CASE WHEN evicted = 0 THEN size END), 0),
		coalesce(sum(uploaded), 0) FROM instances`).Scan(&u.Instances, &u.Bytes,
		&u.PendingObjects, &u.PendingBytes, &u.LocalObjects, &u.LocalBytes, &u.UploadedObjects)
	if err != nil {
		return u, dbErr("usage", err)
	}
	return u, nil
}

// Setting returns the value of key, or "" when it was never set.
func (x *Index) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := x.r.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", dbErr("setting "+key, err)
	}
	return v, nil
}

// SetSetting stores value under key.
func (x *Index) SetSetting(ctx context.Context, key, value string) error {
	err := x.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
		return err
	})
	if err != nil {
		return dbErr("set setting "+key, err)
	}
	return nil
}

// EachInstanceVersion lists what Instances lists, from the instances, series and studies
// tables alone (see store.IndexReader).
func (x *Index) EachInstanceVersion(ctx context.Context, studyUID, seriesUID string, fn func(seriesUID, sopUID, sha256 string) error) error {
	where, args := sqldb.InstancesOf(studyUID, seriesUID)
	return sqldb.EachRow(ctx, x.r, dbErr, "list instance versions", sqldb.InstanceVersionSelect+where, args, sqldb.ScanInstanceVersion,
		func(v sqldb.InstanceVersion) error { return fn(v.SeriesUID, v.SOPInstanceUID, v.SHA256) })
}
