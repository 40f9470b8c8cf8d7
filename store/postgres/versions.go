package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"pacsd/store"
	"pacsd/store/sqldb"
)

// Kept versions of instances (store.Version, the instance_versions table).

// keepVersion, in PutInstance's transaction, keeps prev (the current record inst replaces,
// nil when none) as a version when its content differs, replaced at `at` by `by`, and drops
// a kept version with inst's blob: the current record holds it now, and no two records of
// one instance may share a blob (one upload, one eviction, one restore per blob).
func keepVersion(ctx context.Context, tx *sql.Tx, prev, inst *store.Instance, at time.Time, by string) error {
	if prev != nil && prev.BlobKey != inst.BlobKey {
		if at.IsZero() {
			at = time.Now()
		}
		if _, err := tx.ExecContext(ctx, dollar(sqldb.KeptVersionInsert), sqldb.KeptVersionArgs(prev, at, by)...); err != nil {
			return dbErr("keep version", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM instance_versions WHERE sop_uid = $1 AND blob_key = $2",
		inst.SOPInstanceUID, inst.BlobKey); err != nil {
		return dbErr("drop version now current", err)
	}
	return nil
}

// Versions lists the kept versions of an instance, most recently replaced first.
func (x *Index) Versions(ctx context.Context, sopInstanceUID string) ([]store.Version, error) {
	return sqldb.Versions(ctx, x.db, dbErr, dollar(sqldb.VersionsOf), sopInstanceUID)
}

// RestoreVersion makes v current again (see store.Index): PutInstance's write, after
// checking in the same transaction that the instance and its version v are there.
func (x *Index) RestoreVersion(ctx context.Context, v *store.Version, at time.Time, by string) (*store.Instance, error) {
	if v == nil {
		return nil, fmt.Errorf("restore version: none given: %w", store.ErrInvalid)
	}
	sop := v.SOPInstanceUID
	check := func(tx *sql.Tx, current *store.Instance) error {
		return sqldb.CheckRestorable(ctx, tx, dollar(sqldb.VersionKept), v, current)
	}
	prev, err := x.putInstance(ctx, &v.Instance, at, by, check)
	if err != nil {
		return nil, dbErr(fmt.Sprintf("restore version %d of %s", v.ID, sop), err)
	}
	return prev, nil
}

// StudySites implements store.IndexReader: the distinct sites of the study's current
// instances. A loose index scan of instances_series_site for each series (the smallest
// site, then the smallest above it, ...): a few index probes whatever the study's size.
func (x *Index) StudySites(ctx context.Context, studyUID string) ([]string, error) {
	out, err := sqldb.QueryAll(ctx, x.db, dbErr, "sites of study "+studyUID,
		func(r sqldb.Scanner) (string, error) {
			var s string
			err := r.Scan(&s)
			return s, err
		}, `WITH RECURSIVE sites (series_pk, site) AS (
			SELECT se.id, (SELECT min(i.site) FROM instances i WHERE i.series_pk = se.id)
			FROM studies st JOIN series se ON se.study_pk = st.id WHERE st.study_uid = $1
			UNION ALL
			SELECT s.series_pk, (SELECT min(i.site) FROM instances i
				WHERE i.series_pk = s.series_pk AND i.site > s.site)
			FROM sites s WHERE s.site IS NOT NULL
		) SELECT DISTINCT site FROM sites WHERE site IS NOT NULL ORDER BY site`, studyUID)
	return out, err
}
