-- Write-back to a remote blob store (S3): where each instance's bytes are.
-- uploaded: the remote store holds the blob (size and SHA-256 verified);
-- evicted: the local copy is gone (only ever after uploaded).
ALTER TABLE instances ADD COLUMN uploaded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN evicted INTEGER NOT NULL DEFAULT 0;
-- The uploader's queue and the evictor's candidates, oldest first. Partial indexes hold only
-- the rows they serve, so a drained queue costs nothing however large the archive.
CREATE INDEX instances_pending ON instances (received_at) WHERE uploaded = 0;
CREATE INDEX instances_evictable ON instances (received_at) WHERE uploaded = 1 AND evicted = 0;

-- Small facts about the archive itself (which remote store holds its objects).
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
