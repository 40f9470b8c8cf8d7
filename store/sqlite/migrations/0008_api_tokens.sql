-- API tokens of scripts (reading.Token): found by the SHA-256 of the random token, like
-- sessions, so a copy of this table opens nothing. A revoked token stays listed (who made
-- it, when it was last used); its name may be given again to a new one.
CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY,
	name         TEXT NOT NULL,
	scopes       TEXT NOT NULL, -- comma-separated reading.Scope values
	token_hash   TEXT NOT NULL UNIQUE,
	created_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_by_name TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	expires_at   TEXT NOT NULL,
	last_used_at TEXT NOT NULL DEFAULT '',
	revoked_at   TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name COLLATE NOCASE) WHERE revoked_at = '';
