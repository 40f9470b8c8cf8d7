-- HL7 v2 with the hospital information system (package hl7).
-- Received messages that were not accepted (answered AE or AR), kept as received for an
-- administrator: never dropped silently.
CREATE TABLE hl7_rejected (
	id           INTEGER PRIMARY KEY,
	received_at  TEXT NOT NULL,
	remote       TEXT NOT NULL DEFAULT '',
	message_type TEXT NOT NULL DEFAULT '',
	control_id   TEXT NOT NULL DEFAULT '',
	ack_code     TEXT NOT NULL,
	reason       TEXT NOT NULL,
	raw          BLOB NOT NULL
);
CREATE INDEX hl7_rejected_time ON hl7_rejected (received_at);

-- Signed reports going out to the HIS (an ORU^R01 over MLLP, or a webhook's JSON), one row
-- per destination and report version, kept after sending; the sender retries the unsent
-- ones with back-off, so that a restart resumes them.
CREATE TABLE hl7_outbox (
	id         INTEGER PRIMARY KEY,
	dest       TEXT NOT NULL,
	study_uid  TEXT NOT NULL,
	version    INTEGER NOT NULL,
	payload    TEXT NOT NULL,
	created_at TEXT NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    TEXT NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	sent_at    TEXT NOT NULL DEFAULT '',
	UNIQUE (dest, study_uid, version)
);
CREATE INDEX hl7_outbox_due ON hl7_outbox (next_at) WHERE sent_at = '';
