-- Forwarding (package forward): destinations, the rules that choose them at ingest, and
-- the queue, one row per (instance, destination) written in the instance's own
-- transaction (records.go), so that a crash after the acknowledgement cannot lose a
-- forward. A row once 'sent' is never sent again; a manual re-send adds new rows.
CREATE TABLE forward_destinations (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	kind          TEXT NOT NULL CHECK (kind IN ('dicom', 'stow')),
	ae            TEXT NOT NULL DEFAULT '', -- dicom: a registered peer with destination = 1
	url           TEXT NOT NULL DEFAULT '', -- stow: the DICOMweb base URL
	auth          TEXT NOT NULL DEFAULT '', -- stow: '', 'basic', 'bearer'
	username      TEXT NOT NULL DEFAULT '',
	secret        TEXT NOT NULL DEFAULT '', -- password or token, never shown back
	enabled       INTEGER NOT NULL DEFAULT 1,
	-- The status, kept here so that a restart and every node see it.
	failing_since TEXT NOT NULL DEFAULT '',
	last_error    TEXT NOT NULL DEFAULT '',
	last_success  TEXT NOT NULL DEFAULT '',
	updated_at    TEXT NOT NULL DEFAULT ''
);
-- Empty criteria match anything; site is store.Origin.Site ('site:<id>', 'county', 'ae:<title>').
CREATE TABLE forward_rules (
	id         INTEGER PRIMARY KEY,
	dest_id    INTEGER NOT NULL REFERENCES forward_destinations (id) ON DELETE CASCADE,
	site       TEXT NOT NULL DEFAULT '',
	calling_ae TEXT NOT NULL DEFAULT '',
	modality   TEXT NOT NULL DEFAULT '',
	sop_class  TEXT NOT NULL DEFAULT '',
	enabled    INTEGER NOT NULL DEFAULT 1,
	updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX forward_rules_dest ON forward_rules (dest_id);
CREATE TABLE forward_queue (
	id         INTEGER PRIMARY KEY,
	dest_id    INTEGER NOT NULL REFERENCES forward_destinations (id) ON DELETE CASCADE,
	sop_uid    TEXT NOT NULL,
	study_uid  TEXT NOT NULL,
	state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    TEXT NOT NULL,            -- due from then (UTC, timeFormat); a claim leases it
	owner      TEXT NOT NULL DEFAULT '', -- the node that claimed it last
	created_at TEXT NOT NULL,
	done_at    TEXT NOT NULL DEFAULT '',
	last_error TEXT NOT NULL DEFAULT '',
	manual     INTEGER NOT NULL DEFAULT 0
);
-- At most one pending row per instance and destination (INSERT OR IGNORE relies on it).
CREATE UNIQUE INDEX forward_queue_pending ON forward_queue (sop_uid, dest_id) WHERE state = 'pending';
CREATE INDEX forward_queue_due ON forward_queue (dest_id, next_at, id) WHERE state = 'pending';
CREATE INDEX forward_queue_study ON forward_queue (dest_id, study_uid) WHERE state = 'pending';
CREATE INDEX forward_queue_state ON forward_queue (dest_id, state);
