-- The reading room (package reading): sites, accounts, sessions, report templates, reports
-- with their versions, and one row per study with what the worklist filters and sorts on.
-- It lives in the index's database so that the worklist is one indexed query joining studies.

CREATE TABLE sites (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
	updated_at TEXT NOT NULL DEFAULT ''
);
-- A calling AE title or an Institution Name belongs to at most one site.
CREATE TABLE site_aes (
	ae      TEXT PRIMARY KEY,
	site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE site_institutions (
	name    TEXT PRIMARY KEY COLLATE NOCASE,
	site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX site_aes_site ON site_aes (site_id);
CREATE INDEX site_institutions_site ON site_institutions (site_id);

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
	display_name  TEXT NOT NULL DEFAULT '',
	role          TEXT NOT NULL CHECK (role IN ('admin', 'radiologist', 'site')),
	site_id       INTEGER REFERENCES sites (id) ON DELETE RESTRICT,
	password_hash TEXT NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    TEXT NOT NULL DEFAULT '',
	CHECK ((role = 'site') = (site_id IS NOT NULL))
);

-- Sessions are found by the SHA-256 of their random token: a copy of this table does not
-- let anybody log in.
CREATE TABLE sessions (
	token_hash TEXT PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE report_templates (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	modality   TEXT NOT NULL DEFAULT '',
	body_part  TEXT NOT NULL DEFAULT '',
	findings   TEXT NOT NULL DEFAULT '',
	impression TEXT NOT NULL DEFAULT '',
	updated_at TEXT NOT NULL DEFAULT ''
);

-- Every version of every report. A draft is edited in place; a signed version (final or
-- amended) is never updated again except to record the DICOM object written for it.
CREATE TABLE reports (
	id             INTEGER PRIMARY KEY,
	study_uid      TEXT NOT NULL,
	version        INTEGER NOT NULL,
	status         TEXT NOT NULL CHECK (status IN ('draft', 'final', 'amended')),
	findings       TEXT NOT NULL DEFAULT '',
	impression     TEXT NOT NULL DEFAULT '',
	author_id      INTEGER NOT NULL,
	author_name    TEXT NOT NULL DEFAULT '',
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL,
	signed_by      INTEGER,
	signed_by_name TEXT NOT NULL DEFAULT '',
	signed_at      TEXT NOT NULL DEFAULT '',
	amend_reason   TEXT NOT NULL DEFAULT '',
	sop_uid        TEXT NOT NULL DEFAULT '', -- the SR written for a signed version
	UNIQUE (study_uid, version)
);
-- Signed versions whose DICOM object is still to be written (retried until it is).
CREATE INDEX reports_unexported ON reports (signed_at) WHERE status <> 'draft' AND sop_uid = '';
CREATE INDEX reports_signed ON reports (signed_at) WHERE version = 1 AND status <> 'draft';

-- One row per study: who sent it, when it first arrived, its site, its report status and
-- its urgent flag. Triggers on instances keep it, so ingest code knows nothing of it; the site
-- is re-resolved for every row whenever the registry changes (reading.Repository.PutSite),
-- so a site added later claims its earlier studies.
CREATE TABLE reading_studies (
	study_pk    INTEGER PRIMARY KEY REFERENCES studies (id) ON DELETE CASCADE,
	study_uid   TEXT NOT NULL,
	calling_ae  TEXT NOT NULL DEFAULT '',
	received_at TEXT NOT NULL DEFAULT '',
	site_id     INTEGER, -- NULL: unknown sender
	status      TEXT NOT NULL DEFAULT 'unread',
	urgent      INTEGER NOT NULL DEFAULT 0,
	final_at    TEXT NOT NULL DEFAULT '' -- first signature: the turnaround clock stops
);
CREATE UNIQUE INDEX reading_studies_uid ON reading_studies (study_uid);
-- The worklist walks one of these newest first and stops at the page size.
CREATE INDEX reading_studies_order ON reading_studies (received_at DESC, study_pk DESC);
CREATE INDEX reading_studies_site ON reading_studies (site_id, received_at DESC, study_pk DESC);
CREATE INDEX reading_studies_status ON reading_studies (status, received_at DESC, study_pk DESC);
CREATE INDEX reading_studies_urgent ON reading_studies (received_at DESC, study_pk DESC) WHERE urgent = 1;

CREATE TRIGGER reading_studies_insert AFTER INSERT ON instances BEGIN
	INSERT INTO reading_studies (study_pk, study_uid, calling_ae, received_at, site_id, status, final_at)
	SELECT st.id, st.study_uid, NEW.calling_ae, NEW.received_at,
		COALESCE((SELECT site_id FROM site_aes WHERE ae = NEW.calling_ae AND NEW.calling_ae <> ''),
			(SELECT site_id FROM site_institutions WHERE name = st.institution_name AND st.institution_name <> '')),
		COALESCE((SELECT r.status FROM reports r WHERE r.study_uid = st.study_uid AND r.status <> 'draft'
				ORDER BY r.version DESC LIMIT 1),
			(SELECT 'draft' FROM reports r WHERE r.study_uid = st.study_uid LIMIT 1), 'unread'),
		COALESCE((SELECT signed_at FROM reports r WHERE r.study_uid = st.study_uid AND r.version = 1 AND r.status <> 'draft'), '')
	FROM series se JOIN studies st ON st.id = se.study_pk
	WHERE se.id = NEW.series_pk AND NOT EXISTS (SELECT 1 FROM reading_studies WHERE study_pk = st.id);
	-- A study whose first object came without a calling AE (STOW-RS) takes the first one
	-- that has one.
	UPDATE reading_studies SET calling_ae = NEW.calling_ae,
		site_id = COALESCE((SELECT site_id FROM site_aes WHERE ae = NEW.calling_ae), site_id)
	WHERE NEW.calling_ae <> '' AND calling_ae = ''
		AND study_pk = (SELECT study_pk FROM series WHERE id = NEW.series_pk);
END;

-- A corrected re-send may move an instance into another study.
CREATE TRIGGER reading_studies_move AFTER UPDATE OF series_pk ON instances BEGIN
	INSERT INTO reading_studies (study_pk, study_uid, calling_ae, received_at, site_id)
	SELECT st.id, st.study_uid, NEW.calling_ae, NEW.received_at,
		COALESCE((SELECT site_id FROM site_aes WHERE ae = NEW.calling_ae AND NEW.calling_ae <> ''),
			(SELECT site_id FROM site_institutions WHERE name = st.institution_name AND st.institution_name <> ''))
	FROM series se JOIN studies st ON st.id = se.study_pk
	WHERE se.id = NEW.series_pk AND NOT EXISTS (SELECT 1 FROM reading_studies WHERE study_pk = st.id);
END;

-- Studies indexed before this migration.
INSERT INTO reading_studies (study_pk, study_uid, calling_ae, received_at)
SELECT st.id, st.study_uid,
	COALESCE((SELECT i.calling_ae FROM instances i JOIN series se ON se.id = i.series_pk
		WHERE se.study_pk = st.id AND i.calling_ae <> '' ORDER BY i.received_at LIMIT 1), ''),
	COALESCE((SELECT MIN(i.received_at) FROM instances i JOIN series se ON se.id = i.series_pk
		WHERE se.study_pk = st.id), '')
FROM studies st;

-- The dashboard's "reported per day" and turnaround.
CREATE INDEX reading_studies_final ON reading_studies (final_at) WHERE final_at <> '';
