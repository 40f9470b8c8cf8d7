package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"pacsd/store"
	"pacsd/store/sqldb"
)

// Kept versions of instances (store.Version, migrations/0010_versions.sql).

// keepVersion, in PutInstance's transaction, keeps prev (the current record inst replaces,
// nil when none) as a version when its content differs, replaced at `at` by `by`, and drops
// a kept version with inst's blob: the current record holds it now, and no two records of
// one instance may share a blob (one upload, one eviction, one restore per blob).
func keepVersion(tx *sql.Tx, prev, inst *store.Instance, at time.Time, by string) error {
	if prev != nil && prev.BlobKey != inst.BlobKey {
		if at.IsZero() {
			at = time.Now()
		}
		_, err := tx.Exec(sqldb.KeptVersionInsert, sqldb.KeptVersionArgs(prev, at, by)...)
		if err != nil {
			return dbErr("keep version", err)
		}
	}
	if _, err := tx.Exec("DELETE FROM instance_versions WHERE sop_uid = ? AND blob_key = ?",
		inst.SOPInstanceUID, inst.BlobKey); err != nil {
		return dbErr("drop version now current", err)
	}
	return nil
}

// Versions lists the kept versions of an instance, most recently replaced first.
func (x *Index) Versions(ctx context.Context, sopInstanceUID string) ([]store.Version, error) {
	return sqldb.Versions(ctx, x.r, dbErr, sqldb.VersionsOf, sopInstanceUID)
}

// RestoreVersion makes v current again (see store.Index): PutInstance's write, after
// checking in the same transaction that the instance and its version v are there.
func (x *Index) RestoreVersion(ctx context.Context, v *store.Version, at time.Time, by string) (*store.Instance, error) {
	if v == nil {
		return nil, fmt.Errorf("restore version: none given: %w", store.ErrInvalid)
	}
	sop := v.SOPInstanceUID
	check := func(tx *sql.Tx, current *store.Instance) error {
		// Without the caller's context, as the rest of the writer's transaction (write).
		return sqldb.CheckRestorable(context.Background(), tx, sqldb.VersionKept, v, current)
	}
	prev, err := x.putInstance(ctx, &v.Instance, at, by, check)
	if err != nil {
		return nil, dbErr(fmt.Sprintf("restore version %d of %s", v.ID, sop), err)
	}
	return prev, nil
}
