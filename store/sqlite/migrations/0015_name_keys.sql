-- Name keys: every form in which a study's Patient's Name (attr 1) and Referring
-- Physician's Name (attr 2) can be matched, one row each, so that name searches (QIDO-RS,
-- C-FIND, the worklist's search box) start from this index instead of the studies table:
--   kind 0  the whole name, groups '='-joined (what a value with '=' is compared with)
--   kind 1  each component group, Alphabetic, Ideographic, Phonetic (a value without '=')
--   kind 2  each fuzzy word, accent-folded and lower case (store/sqlite/json.go fuzzyWords:
--           the components, a group's components run together, the given names inside a
--           one-word Chinese name, the pinyin syllables of its characters)
--   kind 3  the pinyin of the name's characters, syllables run together (pinyin.go)
-- Keys are NOCASE, so an exact match, a LIKE prefix ("张%", "zhang%") and a word start
-- are all range searches on the primary key. Written with the study row (records.go
-- writeNameKeys); the keys of studies written before this migration are computed in Go at
-- Open (backfillNames: SQL cannot compute pinyin), which makes study_pinyin redundant.
CREATE TABLE study_names (
	attr     INTEGER NOT NULL,
	kind     INTEGER NOT NULL,
	key      TEXT NOT NULL COLLATE NOCASE,
	study_pk INTEGER NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
	PRIMARY KEY (attr, kind, key, study_pk)
) WITHOUT ROWID;
CREATE INDEX study_names_study ON study_names (study_pk);
DROP TABLE study_pinyin;
