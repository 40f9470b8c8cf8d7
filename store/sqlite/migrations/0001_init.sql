-- Study-root catalogue (PS3.4 C.6.2): studies (with their patient attributes), series,
-- instances. Queryable attributes are columns; each level's DICOM JSON is kept whole in attrs.
-- Text columns are NOT NULL DEFAULT '' so that matching never has to think about NULL;
-- numbers that may be absent (series/instance numbers) are NULL when absent.

CREATE TABLE studies (
	id                       INTEGER PRIMARY KEY,
	study_uid                TEXT NOT NULL UNIQUE,
	study_date               TEXT NOT NULL DEFAULT '',
	study_time               TEXT NOT NULL DEFAULT '',
	accession_number         TEXT NOT NULL DEFAULT '',
	patient_name             TEXT NOT NULL DEFAULT '' COLLATE NOCASE, -- whole PN, groups '='-joined
	pn_alpha                 TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
	pn_ideo                  TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
	pn_phon                  TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
	pn_fuzzy                 TEXT NOT NULL DEFAULT '',                -- '^'-framed folded name words
	patient_id               TEXT NOT NULL DEFAULT '',
	patient_birth_date       TEXT NOT NULL DEFAULT '',
	patient_sex              TEXT NOT NULL DEFAULT '',
	referring_physician_name TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
	rp_alpha                 TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
	rp_ideo                  TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
	rp_phon                  TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
	rp_fuzzy                 TEXT NOT NULL DEFAULT '',
	study_id                 TEXT NOT NULL DEFAULT '',
	study_description        TEXT NOT NULL DEFAULT '',
	institution_name         TEXT NOT NULL DEFAULT '',
	modalities_in_study      TEXT NOT NULL DEFAULT '', -- derived: '\'-joined, sorted
	num_series               INTEGER NOT NULL DEFAULT 0, -- derived
	num_instances            INTEGER NOT NULL DEFAULT 0, -- derived
	attrs                    TEXT NOT NULL DEFAULT '{}',
	updated_at               TEXT NOT NULL DEFAULT ''
);
-- The worklist order (newest first) and date ranges walk this index; LIMIT stops early.
CREATE INDEX studies_order ON studies (study_date DESC, study_time DESC, study_uid);
CREATE INDEX studies_patient_id ON studies (patient_id);
CREATE INDEX studies_accession ON studies (accession_number);
CREATE INDEX studies_pn_alpha ON studies (pn_alpha);
CREATE INDEX studies_pn_ideo ON studies (pn_ideo);
CREATE INDEX studies_pn_phon ON studies (pn_phon);
CREATE INDEX studies_patient_name ON studies (patient_name);
CREATE INDEX studies_birth_date ON studies (patient_birth_date);
CREATE INDEX studies_study_id ON studies (study_id);
CREATE INDEX studies_rp_alpha ON studies (rp_alpha);

CREATE TABLE series (
	id                 INTEGER PRIMARY KEY,
	study_pk           INTEGER NOT NULL REFERENCES studies (id),
	series_uid         TEXT NOT NULL,
	modality           TEXT NOT NULL DEFAULT '',
	series_number      INTEGER,
	series_description TEXT NOT NULL DEFAULT '',
	body_part          TEXT NOT NULL DEFAULT '',
	pps_start_date     TEXT NOT NULL DEFAULT '',
	pps_start_time     TEXT NOT NULL DEFAULT '',
	num_instances      INTEGER NOT NULL DEFAULT 0, -- derived
	attrs              TEXT NOT NULL DEFAULT '{}',
	-- A Series Instance UID is globally unique by definition, but a misconfigured modality may
	-- reuse one under another study; keying by (study, series) keeps both studies intact.
	UNIQUE (study_pk, series_uid)
);
CREATE INDEX series_uid ON series (series_uid);
-- ModalitiesInStudy matching is an EXISTS over this index.
CREATE INDEX series_modality ON series (modality, study_pk);
CREATE INDEX series_order ON series (study_pk, series_number, series_uid);

CREATE TABLE instances (
	id              INTEGER PRIMARY KEY,
	series_pk       INTEGER NOT NULL REFERENCES series (id),
	sop_uid         TEXT NOT NULL UNIQUE,
	sop_class_uid   TEXT NOT NULL DEFAULT '',
	instance_number INTEGER,
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
	received_at     TEXT NOT NULL DEFAULT '', -- UTC, fixed-width RFC 3339 with nanoseconds
	attrs           TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX instances_order ON instances (series_pk, instance_number, sop_uid);
