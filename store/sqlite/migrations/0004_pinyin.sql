-- Pinyin of Chinese patient names, so that a name sent only in characters (张伟, as township
-- modalities send it in GB18030) is found by typing its pinyin (zhang, zhangwei). One row
-- per reading: a surname with several readings (单 dan/shan, 曾 ceng/zeng) gets each.
-- Filled by the Go code that writes studies (store/sqlite/pinyin.go), also for rows that
-- existed before this migration (backfillPinyin).
CREATE TABLE study_pinyin (
	study_pk INTEGER NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
	key      TEXT NOT NULL COLLATE NOCASE, -- syllables run together, lower case
	PRIMARY KEY (study_pk, key)
) WITHOUT ROWID;
CREATE INDEX study_pinyin_key ON study_pinyin (key);
