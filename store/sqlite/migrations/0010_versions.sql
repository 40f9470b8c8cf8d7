-- Kept versions of instances (store.Version): the record a re-send with other content from
-- the same site, or an administrator's restore, replaced. Its blob is kept, never deleted,
-- so that an administrator can look at it and restore it. Attributes are not kept: a
-- restore reads them again from the blob. uploaded/evicted are where the bytes were when
-- the record was replaced (a version is neither uploaded nor evicted afterwards).
-- No two records of one instance (current or kept) share a blob_key: PutInstance drops a
-- kept version whose content becomes current again.
CREATE TABLE instance_versions (
	id              INTEGER PRIMARY KEY,
	sop_uid         TEXT NOT NULL,
	study_uid       TEXT NOT NULL,
	series_uid      TEXT NOT NULL,
	sop_class_uid   TEXT NOT NULL DEFAULT '',
	transfer_syntax TEXT NOT NULL DEFAULT '',
	blob_key        TEXT NOT NULL,
	size            INTEGER NOT NULL,
	sha256          TEXT NOT NULL,
	dataset_offset  INTEGER NOT NULL DEFAULT 0,
	calling_ae      TEXT NOT NULL DEFAULT '',
	called_ae       TEXT NOT NULL DEFAULT '',
	remote_addr     TEXT NOT NULL DEFAULT '',
	transport       TEXT NOT NULL DEFAULT '',
	site            TEXT NOT NULL DEFAULT '',
	received_at     TEXT NOT NULL DEFAULT '', -- UTC, fixed-width RFC 3339 as in instances
	uploaded        INTEGER NOT NULL DEFAULT 0,
	evicted         INTEGER NOT NULL DEFAULT 0,
	replaced_at     TEXT NOT NULL,            -- UTC, same format
	replaced_by     TEXT NOT NULL DEFAULT ''  -- store.Origin.Who of the new version, or "admin:<user>"
);
CREATE INDEX instance_versions_sop ON instance_versions (sop_uid, replaced_at);

-- Instances stored before the overwrite rule have no site: name it from what the index knows,
-- as pacsd serve names a sender today (reading.SenderSite): the site of the registered peer
-- with that calling AE title, "county" for the county's peers and for STOW-RS (county
-- users), "ae:<title>" for an unregistered sender. Without it no old instance could ever be
-- corrected by its own site.
UPDATE instances SET site = CASE
	WHEN calling_ae <> '' AND EXISTS (SELECT 1 FROM peers p WHERE p.ae = instances.calling_ae AND p.site_id IS NOT NULL)
		THEN 'site:' || (SELECT p.site_id FROM peers p WHERE p.ae = instances.calling_ae)
	WHEN calling_ae <> '' AND EXISTS (SELECT 1 FROM peers p WHERE p.ae = instances.calling_ae)
		THEN 'county'
	WHEN calling_ae <> '' THEN 'ae:' || calling_ae
	WHEN transport = 'stow' THEN 'county'
	ELSE '' END
WHERE site = '';
