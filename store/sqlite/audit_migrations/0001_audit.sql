-- The audit trail (package audit) in its own database, audit.db beside index.db: the same
-- tables and triggers the index kept it in (index migrations 0007, 0016, 0020), so that a
-- commit of audit events no longer costs the index's readers their page cache.
--
-- One row per event, append-only. Times are UTC in the fixed-width text form of the index,
-- so they sort as text. Searches are newest first by (time, id): each filter has an index
-- that ends with time (and, implicitly, the rowid), so a page walks one index backwards and
-- stops at the page size.
CREATE TABLE audit_events (
	id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after a purge
	time         TEXT NOT NULL,
	actor_kind   TEXT NOT NULL,
	user_id      INTEGER NOT NULL DEFAULT 0,
	user_name    TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
	ae_title     TEXT NOT NULL DEFAULT '',
	address      TEXT NOT NULL DEFAULT '',
	action       TEXT NOT NULL,
	patient_id   TEXT NOT NULL DEFAULT '',
	patient_name TEXT NOT NULL DEFAULT '',
	study_uid    TEXT NOT NULL DEFAULT '',
	object       TEXT NOT NULL DEFAULT '',
	outcome      TEXT NOT NULL,
	detail       TEXT NOT NULL DEFAULT '',
	count        INTEGER NOT NULL DEFAULT 1 -- identical looks folded into this row (audit.Event.Count)
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_action ON audit_events (action, time);
-- The filter indexes hold only the events that have a value in their column: most events
-- name no AE title (every HTTP request), and a search names no patient or study. The
-- searches say `col <> ''` beside `col = ?` so that the planner may use them.
CREATE INDEX audit_events_patient ON audit_events (patient_id, time) WHERE patient_id <> '';
CREATE INDEX audit_events_study ON audit_events (study_uid, time) WHERE study_uid <> '';
CREATE INDEX audit_events_user ON audit_events (user_name, time) WHERE user_name <> '';
CREATE INDEX audit_events_ae ON audit_events (ae_title, time) WHERE ae_title <> '';

-- The patient-name search keys of an event: each group of the name with its components run
-- together, and the pinyin of its characters (as study_pinyin does for studies).
CREATE TABLE audit_names (
	key      TEXT NOT NULL COLLATE NOCASE,
	event_id INTEGER NOT NULL,
	PRIMARY KEY (key, event_id)
) WITHOUT ROWID;
CREATE INDEX audit_names_event ON audit_names (event_id);

-- Every retention purge: events older than its horizon may be deleted, nothing newer.
CREATE TABLE audit_retention (
	id      INTEGER PRIMARY KEY,
	horizon TEXT NOT NULL,
	at      TEXT NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_retention_horizon ON audit_retention (horizon);

-- Append-only, enforced in the database: no statement of pacsd's, and no slip in a shell,
-- changes an event or removes one younger than the last retention horizon. (Whoever can
-- write the file can drop the triggers too: the syslog collector keeps the copy pacsd's
-- administrators cannot touch.)
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
	WHEN OLD.time >= COALESCE((SELECT max(horizon) FROM audit_retention), '')
BEGIN SELECT RAISE(ABORT, 'audit events are removed only by retention'); END;
CREATE TRIGGER audit_names_no_update BEFORE UPDATE ON audit_names
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_names_no_delete BEFORE DELETE ON audit_names
	WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = OLD.event_id)
BEGIN SELECT RAISE(ABORT, 'audit events are removed only by retention'); END;
CREATE TRIGGER audit_retention_no_update BEFORE UPDATE OF horizon, at ON audit_retention
BEGIN SELECT RAISE(ABORT, 'audit retention is append-only'); END;
CREATE TRIGGER audit_retention_no_delete BEFORE DELETE ON audit_retention
BEGIN SELECT RAISE(ABORT, 'audit retention is append-only'); END;

-- The index whose audit tables (where pacsd kept the trail before this file) were copied
-- here: once per index, in the transaction that copied them, so that an interrupted copy
-- is simply done again and a finished one never twice.
CREATE TABLE audit_imports (
	source TEXT PRIMARY KEY, -- the index's file name ("index.db")
	events INTEGER NOT NULL,
	at     TEXT NOT NULL
);
