-- A study's measurements and annotations (reading.Annotations): the editable state the
-- reading room reopens, one row per study, replaced whole at every save. items is the
-- JSON array of reading.Annotation; version guards against lost updates. Each version is
-- also stored into the study as a measurement SR (sop_uid, once stored; series_uid is the
-- series every version's SR shares); earlier SRs stay in the archive.
CREATE TABLE annotation_sets (
	study_uid       TEXT PRIMARY KEY,
	version         INTEGER NOT NULL,
	items           TEXT NOT NULL,
	updated_by      INTEGER NOT NULL DEFAULT 0,
	updated_by_name TEXT NOT NULL DEFAULT '',
	updated_at      TEXT NOT NULL DEFAULT '',
	sop_uid         TEXT NOT NULL DEFAULT '',
	series_uid      TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
