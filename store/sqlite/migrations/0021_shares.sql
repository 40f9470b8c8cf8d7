-- Share links (reading.Shares, 云胶片): one row per link. Only the SHA-256 of the token is
-- kept (token_hash); answer is the normalised verification answer fixed when the link was
-- made. attempts counts wrong verifications since the last right one (MaxShareAttempts
-- locks the link); opens the right ones. site_id is the study's site when the link was
-- made, for the counts per site. Times are UTC text as elsewhere ('' when not set).
CREATE TABLE share_links (
	id           INTEGER PRIMARY KEY,
	token_hash   TEXT NOT NULL UNIQUE,
	study_uid    TEXT NOT NULL,
	site_id      INTEGER NOT NULL DEFAULT 0,
	kind         TEXT NOT NULL CHECK (kind IN ('patient', 'doctor')),
	verify       TEXT NOT NULL,
	answer       TEXT NOT NULL DEFAULT '',
	created_by   INTEGER NOT NULL DEFAULT 0,
	created_name TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	expires_at   TEXT NOT NULL,
	revoked_at   TEXT NOT NULL DEFAULT '',
	attempts     INTEGER NOT NULL DEFAULT 0,
	opens        INTEGER NOT NULL DEFAULT 0,
	last_open_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX share_links_study ON share_links (study_uid, created_at DESC);
CREATE INDEX share_links_created ON share_links (created_at DESC, id DESC);
