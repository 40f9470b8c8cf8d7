package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"time"

	"pacsd/dicom"
	"pacsd/store"
)

// InstanceSelect reads instance records (ScanInstance) from the instances table and its
// parents, aliased i, se and s; a WHERE clause follows.
const InstanceSelect = `SELECT s.study_uid, se.series_uid, i.sop_uid, i.sop_class_uid, i.transfer_syntax,
	i.blob_key, i.size, i.sha256, i.dataset_offset, i.calling_ae, i.called_ae, i.remote_addr, i.transport,
	i.received_at, s.attrs, se.attrs, i.attrs, i.series_pk, se.study_pk, i.uploaded, i.evicted, i.site
	FROM instances i JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk `

// Parents are the primary keys of an instance's series and study rows.
type Parents struct{ Series, Study int64 }

// DecodeCache shares the decoding of study and series JSON between the rows of one listing.
type DecodeCache map[string]dicom.JSONDataset

func (c DecodeCache) get(s string) (dicom.JSONDataset, error) {
	if ds, ok := c[s]; ok {
		return maps.Clone(ds), nil
	}
	ds, err := DecodeJSON(s)
	if err != nil {
		return nil, err
	}
	c[s] = ds
	return maps.Clone(ds), nil
}

// ScanInstance reads one row of InstanceSelect.
func ScanInstance(row Scanner, cache DecodeCache) (*store.Instance, Parents, error) {
	var (
		in          store.Instance
		recv        string
		sa, sea, ia string
		p           Parents
	)
	err := row.Scan(&in.StudyInstanceUID, &in.SeriesInstanceUID, &in.SOPInstanceUID, &in.SOPClassUID,
		&in.TransferSyntaxUID, &in.BlobKey, &in.Size, &in.SHA256, &in.DatasetOffset, &in.Origin.CallingAE,
		&in.Origin.CalledAE, &in.Origin.RemoteAddr, &in.Origin.Transport, &recv,
		&sa, &sea, &ia, &p.Series, &p.Study, &in.Uploaded, &in.Evicted, &in.Origin.Site)
	if err != nil {
		return nil, p, err
	}
	if recv != "" {
		t, err := time.Parse(TimeFormat, recv)
		if err != nil {
			return nil, p, fmt.Errorf("instance %s: received_at %q: %w", in.SOPInstanceUID, recv, err)
		}
		in.ReceivedAt = t
	}
	if in.StudyAttrs, err = cache.get(sa); err != nil {
		return nil, p, fmt.Errorf("instance %s: study attributes: %w", in.SOPInstanceUID, err)
	}
	if in.SeriesAttrs, err = cache.get(sea); err != nil {
		return nil, p, fmt.Errorf("instance %s: series attributes: %w", in.SOPInstanceUID, err)
	}
	if in.InstanceAttrs, err = DecodeJSON(ia); err != nil {
		return nil, p, fmt.Errorf("instance %s: attributes: %w", in.SOPInstanceUID, err)
	}
	return &in, p, nil
}

// InstancesOf is the WHERE and ORDER BY ('?' placeholders) of a study's (or one series')
// instances in series number, series UID, instance number, SOP Instance UID order (absent
// numbers last), over the aliases of InstanceSelect.
func InstancesOf(studyUID, seriesUID string) (string, []any) {
	q, args := "WHERE s.study_uid = ?", []any{studyUID}
	if seriesUID != "" {
		q += " AND se.series_uid = ?"
		args = append(args, seriesUID)
	}
	return q + ` ORDER BY se.series_number IS NULL, se.series_number, se.series_uid,
		i.instance_number IS NULL, i.instance_number, i.sop_uid`, args
}

// InstanceScanner scans the rows of one listing of InstanceSelect, sharing the decoding of
// their studies' and series' JSON (a DecodeCache) between them.
func InstanceScanner() func(Scanner) (*store.Instance, error) {
	cache := DecodeCache{}
	return func(row Scanner) (*store.Instance, error) {
		in, _, err := ScanInstance(row, cache)
		return in, err
	}
}

// InstanceVersionSelect reads InstanceVersion rows with InstanceSelect's aliases (a WHERE
// clause follows): what a listing of instances is without their attributes.
const InstanceVersionSelect = `SELECT se.series_uid, i.sop_uid, i.sha256 FROM instances i
	JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk `

// InstanceVersion is a row of InstanceVersionSelect.
type InstanceVersion struct{ SeriesUID, SOPInstanceUID, SHA256 string }

// ScanInstanceVersion reads one row of InstanceVersionSelect.
func ScanInstanceVersion(row Scanner) (InstanceVersion, error) {
	var v InstanceVersion
	err := row.Scan(&v.SeriesUID, &v.SOPInstanceUID, &v.SHA256)
	return v, err
}

// BlobRefColumns are what ScanBlobRef reads, from instances or instance_versions.
const BlobRefColumns = "sop_uid, blob_key, size, sha256, received_at, uploaded, evicted"

// BlobRefsQuery is the query of the references filter selects (see store.Index), at most
// limit of them (none: all), in the engine's SQL: pending and evictable are its conditions
// on instances' flags (uploaded, evicted), ph its placeholder of the first argument.
func BlobRefsQuery(filter store.RefFilter, limit int, pending, evictable, ph string) (string, []any, error) {
	q := "SELECT " + BlobRefColumns + " FROM instances"
	switch filter {
	case store.RefsAll:
		// Kept versions' blobs are referenced too (store.Index).
		q += " UNION ALL SELECT " + BlobRefColumns + " FROM instance_versions"
	case store.RefsPending:
		q += " WHERE " + pending + " ORDER BY received_at"
	case store.RefsEvictable:
		q += " WHERE " + evictable + " ORDER BY received_at"
	default:
		return "", nil, fmt.Errorf("blob refs: filter %d: %w", filter, store.ErrInvalid)
	}
	var args []any
	if limit > 0 {
		q += " LIMIT " + ph
		args = append(args, limit)
	}
	return q, args, nil
}

// ScanBlobRef reads one row of BlobRefColumns.
func ScanBlobRef(row Scanner) (store.BlobRef, error) {
	var (
		r    store.BlobRef
		recv string
	)
	if err := row.Scan(&r.SOPInstanceUID, &r.BlobKey, &r.Size, &r.SHA256, &recv, &r.Uploaded, &r.Evicted); err != nil {
		return r, err
	}
	if recv != "" {
		t, err := time.Parse(TimeFormat, recv)
		if err != nil {
			return r, fmt.Errorf("instance %s: received_at %q: %w", r.SOPInstanceUID, recv, err)
		}
		r.ReceivedAt = t
	}
	return r, nil
}

// VersionColumns are what ScanVersion reads from instance_versions.
const VersionColumns = `id, sop_uid, study_uid, series_uid, sop_class_uid,
	transfer_syntax, blob_key, size, sha256, dataset_offset, calling_ae, called_ae, remote_addr,
	transport, site, received_at, uploaded, evicted, replaced_at, replaced_by`

// ScanVersion reads one row of VersionColumns.
func ScanVersion(row Scanner) (store.Version, error) {
	var (
		v              store.Version
		recv, replaced string
	)
	err := row.Scan(&v.ID, &v.SOPInstanceUID, &v.StudyInstanceUID, &v.SeriesInstanceUID, &v.SOPClassUID,
		&v.TransferSyntaxUID, &v.BlobKey, &v.Size, &v.SHA256, &v.DatasetOffset, &v.Origin.CallingAE,
		&v.Origin.CalledAE, &v.Origin.RemoteAddr, &v.Origin.Transport, &v.Origin.Site, &recv,
		&v.Uploaded, &v.Evicted, &replaced, &v.ReplacedBy)
	if err != nil {
		return v, err
	}
	v.ReceivedAt, v.ReplacedAt = ParseTime(recv), ParseTime(replaced)
	return v, nil
}

// VersionsOf lists the kept versions of an instance ('?' placeholders: its SOP Instance
// UID), most recently replaced first.
const VersionsOf = `SELECT ` + VersionColumns + ` FROM instance_versions WHERE sop_uid = ?
	ORDER BY replaced_at DESC, id DESC`

// Versions lists the kept versions of an instance with q, VersionsOf in the engine's
// placeholders; none is an empty list, not nil.
func Versions(ctx context.Context, db Queryer, mapErr ErrMapper, q, sopInstanceUID string) ([]store.Version, error) {
	out, err := QueryAll(ctx, db, mapErr, "versions of "+sopInstanceUID, ScanVersion, q, sopInstanceUID)
	if out == nil && err == nil {
		out = []store.Version{}
	}
	return out, err
}

// VersionKept selects 1 when the version of an instance ('?' placeholders: version ID, SOP
// Instance UID, blob key) is kept.
const VersionKept = "SELECT 1 FROM instance_versions WHERE id = ? AND sop_uid = ? AND blob_key = ?"

// CheckRestorable is RestoreVersion's check in its write transaction, before the write:
// the instance is current and its version v kept. q is VersionKept in the engine's
// placeholders.
func CheckRestorable(ctx context.Context, tx *sql.Tx, q string, v *store.Version, current *store.Instance) error {
	if current == nil {
		return fmt.Errorf("instance %s: %w", v.SOPInstanceUID, store.ErrNotFound)
	}
	var one int
	err := tx.QueryRowContext(ctx, q, v.ID, v.SOPInstanceUID, v.BlobKey).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("version %d of %s: %w", v.ID, v.SOPInstanceUID, store.ErrNotFound)
	}
	return err
}

// KeptVersionInsert keeps a replaced record as a version ('?' placeholders; KeptVersionArgs).
const KeptVersionInsert = `INSERT INTO instance_versions (sop_uid, study_uid, series_uid, sop_class_uid,
	transfer_syntax, blob_key, size, sha256, dataset_offset, calling_ae, called_ae, remote_addr,
	transport, site, received_at, uploaded, evicted, replaced_at, replaced_by)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// KeptVersionArgs are the arguments of KeptVersionInsert for prev, replaced at `at` by `by`.
func KeptVersionArgs(prev *store.Instance, at time.Time, by string) []any {
	return []any{prev.SOPInstanceUID, prev.StudyInstanceUID, prev.SeriesInstanceUID, prev.SOPClassUID,
		prev.TransferSyntaxUID, prev.BlobKey, prev.Size, prev.SHA256, prev.DatasetOffset,
		prev.Origin.CallingAE, prev.Origin.CalledAE, prev.Origin.RemoteAddr, prev.Origin.Transport,
		prev.Origin.Site, FormatTime(prev.ReceivedAt), prev.Uploaded, prev.Evicted, FormatTime(at), by}
}
