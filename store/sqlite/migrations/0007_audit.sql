-- The audit trail (package audit): one row per event, append-only. Times are UTC in the
-- fixed-width text form of the other tables, so they sort as text. Searches are newest
-- first by (time, id): each filter has an index that ends with time (and, implicitly, the
-- rowid), so a page walks one index backwards and stops at the page size.
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
	detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_patient ON audit_events (patient_id, time);
CREATE INDEX audit_events_study ON audit_events (study_uid, time);
CREATE INDEX audit_events_user ON audit_events (user_name, time);
CREATE INDEX audit_events_ae ON audit_events (ae_title, time);
CREATE INDEX audit_events_action ON audit_events (action, time);

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
