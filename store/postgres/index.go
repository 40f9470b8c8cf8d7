package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/sqldb"
)

// The index's records on PostgreSQL (store.Index). Several nodes write one database at
// once, so every write that touches a study takes the study's row lock first (lockStudy),
// then its series and instances: two nodes receiving one study wait for each other instead
// of deadlocking, and each recounts the study's series and instances after the other's
// commit (the counts are read under the lock, in statements that start after it was
// taken, so under READ COMMITTED they see every write before theirs).

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// errRaced makes inTx run a write again: another node wrote what this one was about to
// create (the same new SOP instance in another study); the next attempt finds it.
var errRaced = &pgconn.PgError{Code: "40001", Message: "written concurrently by another node"}

// dollar is q with its '?' placeholders numbered as PostgreSQL wants them ($1, $2, ...):
// the SQL shared with SQLite (store/sqldb) and built by the search uses '?'. The queries
// it is given have no '?' inside a literal.
func dollar(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// PutInstance records inst (see store.Index). The study row takes the attributes of inst
// merged over its own (mergeStudy), the series row those of inst; derived counts are
// recomputed in the same transaction. The record replaced is kept as a version.
func (x *Index) PutInstance(ctx context.Context, inst *store.Instance) (*store.Instance, error) {
	if inst == nil {
		return nil, fmt.Errorf("put instance: missing UID or blob key: %w", store.ErrInvalid)
	}
	return x.putInstance(ctx, inst, inst.ReceivedAt, inst.Origin.Who(), nil)
}

// lockedStudy is a study row locked for the transaction, as it was before the write.
type lockedStudy struct {
	pk            int64
	attrs, pn, rp string
	created       bool // by this transaction
}

// lockStudy locks the row of study uid, creating an empty one when there is none (filled
// by the same transaction): the first lock every write of a study takes.
func lockStudy(ctx context.Context, tx *sql.Tx, uid string) (*lockedStudy, error) {
	for attempt := 0; attempt < 3; attempt++ {
		var s lockedStudy
		err := tx.QueryRowContext(ctx, `SELECT id, attrs, patient_name, referring_physician_name
			FROM studies WHERE study_uid = $1 FOR UPDATE`, uid).Scan(&s.pk, &s.attrs, &s.pn, &s.rp)
		if err == nil {
			return &s, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, dbErr("lock study", err)
		}
		// A concurrent writer creating it makes this wait for its commit, then do nothing;
		// the SELECT then finds its row.
		err = tx.QueryRowContext(ctx, `INSERT INTO studies (study_uid) VALUES ($1)
			ON CONFLICT (study_uid) DO NOTHING RETURNING id, attrs`, uid).Scan(&s.pk, &s.attrs)
		if err == nil {
			s.created = true
			return &s, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, dbErr("create study", err)
		}
	}
	return nil, errRaced // created and removed again meanwhile, more than once
}

// lockStudyPK locks a study row by its key (an instance's former study when it moves).
func lockStudyPK(ctx context.Context, tx *sql.Tx, pk int64) error {
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM studies WHERE id = $1 FOR UPDATE`, pk); err != nil {
		return dbErr("lock study", err)
	}
	return nil
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
	err = x.inTx(ctx, func(tx *sql.Tx) error {
		prev = nil
		st, err := lockStudy(ctx, tx, inst.StudyInstanceUID)
		if err != nil {
			return err
		}
		p, prevParents, err := loadInstance(ctx, tx, inst.SOPInstanceUID, true)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if p != nil && prevParents.Study != st.pk {
			// The instance moves from another study, whose counts change too.
			if err := lockStudyPK(ctx, tx, prevParents.Study); err != nil {
				return err
			}
		}
		if check != nil {
			if err := check(tx, p); err != nil {
				return err
			}
		}
		if err := keepVersion(ctx, tx, p, inst, at, by); err != nil {
			return err
		}
		c, err := mergeStudy(st, inst, cols)
		if err != nil {
			return err
		}
		if err := writeStudy(ctx, tx, st, c); err != nil {
			return err
		}
		seriesPK, err := upsertSeries(ctx, tx, st.pk, inst, c)
		if err != nil {
			return err
		}
		if err := writeInstance(ctx, tx, p != nil, seriesPK, inst, c); err != nil {
			return err
		}
		if inst.Origin.Quarantined {
			if err := quarantine(ctx, tx, st.pk, inst.SOPInstanceUID); err != nil {
				return err
			}
		}
		if err := refreshSeries(ctx, tx, seriesPK, st.pk); err != nil {
			return err
		}
		if check == nil { // a new object, not a restored version: forward it (forward.go)
			if err := enqueueForwards(ctx, tx, inst, c.Modality); err != nil {
				return err
			}
		}
		if p != nil && prevParents.Series != seriesPK {
			// The instance moved (a corrected study or series UID): the old parents may
			// now be empty.
			if err := refreshSeries(ctx, tx, prevParents.Series, prevParents.Study); err != nil {
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

// quarantine holds the study of an object from an unknown sender for an administrator
// (the reading room's reading_studies): only a study this object begins, so that an
// unknown sender cannot hide a known site's study from its readers by adding one object.
func quarantine(ctx context.Context, tx *sql.Tx, studyPK int64, sop string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE reading_studies SET quarantined = 1 WHERE study_pk = $1
		AND NOT EXISTS (SELECT 1 FROM instances i JOIN series se ON se.id = i.series_pk
			WHERE se.study_pk = $1 AND i.sop_uid <> $2)`, studyPK, sop); err != nil {
		return dbErr("quarantine study", err)
	}
	return nil
}

func writeInstance(ctx context.Context, tx *sql.Tx, exists bool, seriesPK int64, inst *store.Instance, c *sqldb.Columns) error {
	var err error
	if !exists {
		_, err = tx.ExecContext(ctx, `INSERT INTO instances (series_pk, sop_uid, sop_class_uid, instance_number,
			transfer_syntax, blob_key, size, sha256, dataset_offset, calling_ae, called_ae, remote_addr,
			transport, site, received_at, attrs, uploaded, evicted)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
			seriesPK, inst.SOPInstanceUID, inst.SOPClassUID, c.InstanceNumber, inst.TransferSyntaxUID,
			inst.BlobKey, inst.Size, inst.SHA256, inst.DatasetOffset, inst.Origin.CallingAE,
			inst.Origin.CalledAE, inst.Origin.RemoteAddr, inst.Origin.Transport, inst.Origin.Site,
			c.ReceivedAt, c.InstanceAttrs, inst.Uploaded, inst.Evicted)
		if isUnique(err) {
			return errRaced // the same new instance, put into another study at once
		}
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE instances SET series_pk=$1, sop_class_uid=$2, instance_number=$3,
			transfer_syntax=$4, blob_key=$5, size=$6, sha256=$7, dataset_offset=$8, calling_ae=$9, called_ae=$10,
			remote_addr=$11, transport=$12, site=$13, received_at=$14, attrs=$15, uploaded=$16, evicted=$17
			WHERE sop_uid=$18`,
			seriesPK, inst.SOPClassUID, c.InstanceNumber, inst.TransferSyntaxUID,
			inst.BlobKey, inst.Size, inst.SHA256, inst.DatasetOffset, inst.Origin.CallingAE,
			inst.Origin.CalledAE, inst.Origin.RemoteAddr, inst.Origin.Transport, inst.Origin.Site,
			c.ReceivedAt, c.InstanceAttrs, inst.Uploaded, inst.Evicted, inst.SOPInstanceUID)
	}
	if err != nil {
		return dbErr("write instance", err)
	}
	return nil
}

// DeleteInstance removes the record and any series and study it leaves empty.
func (x *Index) DeleteInstance(ctx context.Context, sopInstanceUID string) error {
	err := x.inTx(ctx, func(tx *sql.Tx) error {
		var seriesPK, studyPK int64
		err := tx.QueryRowContext(ctx, `SELECT i.series_pk, se.study_pk FROM instances i
			JOIN series se ON se.id = i.series_pk WHERE i.sop_uid = $1`, sopInstanceUID).Scan(&seriesPK, &studyPK)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return dbErr("find instance", err)
		}
		// The study's lock first, as every write of a study takes it; then the instance
		// must still be where it was found.
		if err := lockStudyPK(ctx, tx, studyPK); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM instances WHERE sop_uid = $1 AND series_pk = $2", sopInstanceUID, seriesPK)
		if err != nil {
			return dbErr("delete instance", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return dbErr("delete instance", err)
		} else if n == 0 {
			return errRaced // moved or deleted meanwhile: look again
		}
		return refreshSeries(ctx, tx, seriesPK, studyPK)
	})
	if err != nil {
		return dbErr("delete instance "+sopInstanceUID, err)
	}
	return nil
}

// mergeStudy merges the study's stored attributes into those of the instance arriving:
// what the instance carries wins (a corrected re-send corrects), what it lacks is kept
// (store/sqlite's mergeStudy says why). Nothing is decoded in the usual case, where the
// new instance carries every attribute the study has.
func mergeStudy(st *lockedStudy, inst *store.Instance, c *sqldb.Columns) (*sqldb.Columns, error) {
	old := st.attrs
	if st.created || old == c.StudyAttrs || old == "{}" || old == "" {
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

// writeStudy writes the study's attribute columns, and its name keys when a name changed
// (most instances repeat their study's names).
func writeStudy(ctx context.Context, tx *sql.Tx, st *lockedStudy, c *sqldb.Columns) error {
	_, err := tx.ExecContext(ctx, `UPDATE studies SET study_date=$2, study_time=$3, accession_number=$4,
		patient_name=$5, pn_alpha=$6, pn_ideo=$7, pn_phon=$8, pn_fuzzy=$9, patient_id=$10,
		patient_birth_date=$11, patient_sex=$12, referring_physician_name=$13, rp_alpha=$14,
		rp_ideo=$15, rp_phon=$16, rp_fuzzy=$17, study_id=$18, study_description=$19,
		institution_name=$20, attrs=$21, updated_at=$22 WHERE id = $1`,
		st.pk, c.StudyDate, c.StudyTime, c.Accession,
		c.PatientName.Full, c.PatientName.Alpha, c.PatientName.Ideo, c.PatientName.Phon, c.PatientName.Fuzzy,
		c.PatientID, c.BirthDate, c.Sex,
		c.Referring.Full, c.Referring.Alpha, c.Referring.Ideo, c.Referring.Phon, c.Referring.Fuzzy,
		c.StudyID, c.StudyDescription, c.Institution, c.StudyAttrs, c.ReceivedAt)
	if err != nil {
		return dbErr("write study", err)
	}
	if st.created || st.pn != c.PatientName.Full || st.rp != c.Referring.Full {
		return writeNameKeys(ctx, tx, st.pk, c.PatientName.Name(), c.Referring.Name())
	}
	return nil
}

func upsertSeries(ctx context.Context, tx *sql.Tx, studyPK int64, inst *store.Instance, c *sqldb.Columns) (int64, error) {
	var pk int64
	err := tx.QueryRowContext(ctx, `INSERT INTO series (study_pk, series_uid, modality, series_number,
		series_description, body_part, pps_start_date, pps_start_time, attrs)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
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

// refreshSeries recomputes the derived attributes of a series and its study (whose row
// lock the caller holds), removing them when they have become empty.
func refreshSeries(ctx context.Context, tx *sql.Tx, seriesPK, studyPK int64) error {
	if _, err := tx.ExecContext(ctx, `WITH n AS (SELECT count(*) AS n FROM instances WHERE series_pk = $1),
		u AS (UPDATE series SET num_instances = (SELECT n FROM n) WHERE id = $1 AND (SELECT n FROM n) > 0)
		DELETE FROM series WHERE id = $1 AND (SELECT n FROM n) = 0`, seriesPK); err != nil {
		return dbErr("count series instances", err)
	}
	var nSeries int
	err := tx.QueryRowContext(ctx, `UPDATE studies SET
		num_series = c.num_series, num_instances = c.num_instances, modalities_in_study = c.modalities
		FROM (SELECT count(*) AS num_series, coalesce(sum(num_instances), 0) AS num_instances,
			coalesce(string_agg(DISTINCT modality, '\' ORDER BY modality) FILTER (WHERE modality <> ''), '') AS modalities
			FROM series WHERE study_pk = $1) c
		WHERE id = $1 RETURNING studies.num_series`, studyPK).Scan(&nSeries)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return dbErr("count study series", err)
	}
	if nSeries == 0 {
		if _, err := tx.ExecContext(ctx, "DELETE FROM studies WHERE id = $1", studyPK); err != nil {
			return dbErr("delete empty study", err)
		}
	}
	return nil
}

func loadInstance(ctx context.Context, q queryer, sopUID string, forUpdate bool) (*store.Instance, sqldb.Parents, error) {
	query := sqldb.InstanceSelect + "WHERE i.sop_uid = $1"
	if forUpdate {
		query += " FOR UPDATE OF i"
	}
	in, p, err := sqldb.ScanInstance(q.QueryRowContext(ctx, query, sopUID), sqldb.DecodeCache{})
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
	in, _, err := loadInstance(ctx, x.db, sopInstanceUID, false)
	return in, err
}

// Instances lists the instances of a study (or one of its series) in series number,
// series UID, instance number, SOP Instance UID order (absent numbers last).
func (x *Index) Instances(ctx context.Context, studyUID, seriesUID string) ([]*store.Instance, error) {
	where, args := sqldb.InstancesOf(studyUID, seriesUID)
	out, err := sqldb.QueryAll(ctx, x.db, dbErr, "list instances", sqldb.InstanceScanner(), dollar(sqldb.InstanceSelect+where), args...)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("instances of study %s series %q: %w", studyUID, seriesUID, store.ErrNotFound)
	}
	return out, nil
}

// EachInstanceVersion lists what Instances lists, from the instances, series and studies
// tables alone (see store.IndexReader).
func (x *Index) EachInstanceVersion(ctx context.Context, studyUID, seriesUID string, fn func(seriesUID, sopUID, sha256 string) error) error {
	where, args := sqldb.InstancesOf(studyUID, seriesUID)
	return sqldb.EachRow(ctx, x.db, dbErr, "list instance versions", dollar(sqldb.InstanceVersionSelect+where), args, sqldb.ScanInstanceVersion,
		func(v sqldb.InstanceVersion) error { return fn(v.SeriesUID, v.SOPInstanceUID, v.SHA256) })
}

// BlobRefs calls fn for the references filter selects (see store.Index). The read runs in
// one statement (a consistent snapshot); fn runs while its rows are read.
func (x *Index) BlobRefs(ctx context.Context, filter store.RefFilter, limit int, fn func(store.BlobRef) error) error {
	q, args, err := sqldb.BlobRefsQuery(filter, limit, "NOT uploaded", "uploaded AND NOT evicted", "$1")
	if err != nil {
		return err
	}
	return sqldb.EachRow(ctx, x.db, dbErr, "list blob refs", q, args, sqldb.ScanBlobRef, fn)
}

// MarkUploaded records the upload of blobKey (see store.Index).
func (x *Index) MarkUploaded(ctx context.Context, sopInstanceUID, blobKey string) error {
	return x.mark(ctx, "mark uploaded", sopInstanceUID, blobKey,
		"UPDATE instances SET uploaded = true WHERE sop_uid = $1 AND blob_key = $2")
}

// MarkEvicted records that the local copy of an uploaded blob is gone (see store.Index).
// The condition on evicted makes two evictors of one blob count it once: the second
// waits for the first's row lock, then finds it evicted.
func (x *Index) MarkEvicted(ctx context.Context, sopInstanceUID, blobKey string) error {
	return x.mark(ctx, "mark evicted", sopInstanceUID, blobKey,
		"UPDATE instances SET evicted = true WHERE sop_uid = $1 AND blob_key = $2 AND uploaded AND NOT evicted")
}

func (x *Index) mark(ctx context.Context, op, sop, key, stmt string) error {
	err := x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, fmt.Errorf("instance %s with blob %s: %w", sop, key, store.ErrNotFound), stmt, sop, key)
	})
	if err != nil {
		return dbErr(op+" "+sop, err)
	}
	return nil
}

// Usage sums the instances by location in one pass over the instances table.
func (x *Index) Usage(ctx context.Context) (store.Usage, error) {
	var u store.Usage
	err := x.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0),
		count(*) FILTER (WHERE NOT uploaded), coalesce(sum(size) FILTER (WHERE NOT uploaded), 0),
		count(*) FILTER (WHERE NOT evicted), coalesce(sum(size) FILTER (WHERE NOT evicted), 0),
		count(*) FILTER (WHERE uploaded) FROM instances`).Scan(&u.Instances, &u.Bytes,
		&u.PendingObjects, &u.PendingBytes, &u.LocalObjects, &u.LocalBytes, &u.UploadedObjects)
	if err != nil {
		return u, dbErr("usage", err)
	}
	return u, nil
}
