-- The reading room's workflow (issue 18): two-level review, critical findings (危急值), claims
-- on studies, the phrase library (常用词条).

-- A reviewer (审核医师) may sign in two-level review. A draft submitted for review keeps
-- status 'draft' in reports (its CHECK predates review) and has submitted_at set: the
-- repository reads it as 'preliminary', and reading_studies.status says so.
ALTER TABLE users ADD COLUMN may_review INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN submitted_at TEXT NOT NULL DEFAULT '';

-- An urgent study whose report awaits its reviewer heads the worklist as an unread one does
-- (0006's partial index, widened; the worklist's condition says the same words).
DROP INDEX reading_studies_urgent_unread;
CREATE INDEX reading_studies_urgent_unread ON reading_studies (received_at DESC, study_pk DESC)
	WHERE urgent = 1 AND status IN ('unread', 'preliminary');

-- A finding flagged as critical, and its acknowledgement by the study's site (set once).
-- The site is not copied: it is the study's, read through reading_studies when listed.
CREATE TABLE critical_findings (
	id              INTEGER PRIMARY KEY,
	study_uid       TEXT NOT NULL,
	category        TEXT NOT NULL,
	text            TEXT NOT NULL,
	flagged_by      INTEGER NOT NULL,
	flagged_by_name TEXT NOT NULL DEFAULT '',
	flagged_at      TEXT NOT NULL,
	ack_by          INTEGER,
	ack_by_name     TEXT NOT NULL DEFAULT '',
	ack_at          TEXT NOT NULL DEFAULT '',
	informed        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX critical_findings_study ON critical_findings (study_uid, flagged_at DESC);
CREATE INDEX critical_findings_flagged ON critical_findings (flagged_at DESC);
-- The open ones head every township list and the county dashboard: few, found here.
CREATE INDEX critical_findings_open ON critical_findings (flagged_at DESC) WHERE ack_at = '';

-- One claim per study at most; an expired row is taken over by the next claimant.
CREATE TABLE study_claims (
	study_uid  TEXT PRIMARY KEY,
	user_id    INTEGER NOT NULL,
	user_name  TEXT NOT NULL DEFAULT '',
	claimed_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE phrases (
	id       INTEGER PRIMARY KEY,
	owner_id INTEGER NOT NULL DEFAULT 0, -- 0: shared
	grp      TEXT NOT NULL,
	text     TEXT NOT NULL
);
CREATE INDEX phrases_owner ON phrases (owner_id, grp, text);
