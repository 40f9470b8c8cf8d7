-- Share links with derived tokens (reading.DeriveShareToken): nonce is what the token is
-- derived from under the server's secret, kept outside the database ('' for the links of
-- 0021, whose random token was shown once); token_hash stays the only trace of the token.
-- on_report marks the study's link printed on its report, made when it is signed (or first
-- printed) and reused: at most one unrevoked per study.
ALTER TABLE share_links ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE share_links ADD COLUMN on_report INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX share_links_report ON share_links (study_uid) WHERE on_report = 1 AND revoked_at = '';
