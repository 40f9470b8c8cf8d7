// Package sqlite is the store.Index of a pacsd node: a study-root catalogue (studies with
// their patient attributes, series, instances) in one SQLite file, the only package that
// imports the SQLite driver (github.com/mattn/go-sqlite3, cgo). The same file holds the
// reading room's records (Reading, a reading.Repository), so the worklist joins the studies.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a write has been
// fsync'd to the WAL before PutInstance or DeleteInstance return. All writes go through one
// connection owned by one writer goroutine, which batches the writes that are waiting into
// one transaction (group commit: one fsync for many associations); each write runs in its
// own savepoint, so one failing write does not fail the others, and every caller is released
// only after the commit that holds its write. Reads use a separate pool and never wait for
// the writer (WAL readers see the last commit).
//
// Schema changes are numbered files in migrations/, embedded, each applied in one
// transaction and recorded in schema_version. A database newer than the code is refused.
//
// Levels: PutInstance merges the incoming instance's study attributes into the study's: what
// the instance carries wins (e.g. after a patient-name correction at the modality), what it
// lacks is kept (a report sent without the Study Description must not blank it). The
// series' attributes are replaced by the instance's. Derived attributes (ModalitiesInStudy,
// NumberOfStudyRelatedSeries/Instances, NumberOfSeriesRelatedInstances) are recomputed in
// the same transaction. Empty series and studies are removed with their last instance.
//
// # Matching (PS3.4 C.2.2.2, PS3.18 8.3.4)
//
// Column-backed keys, answered from indexes:
//
//	study:    StudyInstanceUID, StudyDate, StudyTime, AccessionNumber, PatientName,
//	          PatientID, PatientBirthDate, PatientSex, ReferringPhysicianName, StudyID,
//	          StudyDescription, InstitutionName, ModalitiesInStudy
//	series:   SeriesInstanceUID, Modality, SeriesNumber, SeriesDescription,
//	          BodyPartExamined, PerformedProcedureStepStartDate/Time
//	instance: SOPInstanceUID, SOPClassUID, InstanceNumber, AvailableTransferSyntaxUID
//	          (the transfer syntax the object is stored in)
//
// Rules: an empty value or "*" is universal matching (no constraint). Values separated by
// '\' match when any of them matches (UID list matching, C.2.2.2.2, and multiple value
// matching for the other VRs). UI: exact, no wildcards. DA/TM (and DT in JSON keys): a single
// value or a range "a-b", "a-", "-b" (C.2.2.2.5), compared as strings after dropping ':' (TM)
// and '.' (DA); a TM value or bound is a prefix, so "0800-1200" includes 12:00:59 and
// StudyTime=0830 matches 083015; empty values never match a range; combined DA+TM range
// matching (C.2.2.2.5.1) is not supported. IS keys: integer equality. Text keys: case-
// sensitive, with '*' and '?' wildcards (C.2.2.2.4, via GLOB). PN keys: case-insensitive
// for ASCII letters (via NOCASE columns and LIKE); a value without '=' matches when it
// matches the alphabetic, ideographic or phonetic group, so "张*" finds "张伟" and
// "Zhang^Wei=张^伟"; a value with '=' is matched against the whole name; trailing empty
// components ("Zhang^Wei^^") are ignored on both sides.
//
// Fuzzy matching (Query.Fuzzy, PS3.18 8.3.4.5) applies to PN keys: the value is split into
// words at '^', '=' and spaces; each word must match the start of some name component,
// ignoring case and accents (Unicode NFD with marks removed, then lower case), so "wei" finds
// "Zhang^Wei" and "jose" finds "José". A Chinese name stored as one word counts its
// possible given names as words too (张伟: 伟; 欧阳娜娜: 阳娜娜, 娜娜), and the pinyin of its
// characters (zhang, wei, zhangwei). A wildcard in a fuzzy word stays within one name word.
//
// Patient's Name and Referring Physician's Name are matched through name keys
// (0015_name_keys.sql, names.go): the whole name, each component group, each fuzzy word and
// the run-together pinyin are rows of study_names, so an exact value, a value with a
// literal prefix (张*, zhang*) and each fuzzy word are range searches on its primary key;
// the search starts from the studies they find and reads them by primary key, never
// walking the studies table, so its time follows the matches, not the archive's size. A
// value with a leading wildcard (*wei) reads the keys of its kind, still not the studies;
// a value that matches empty names ("^", "**") is matched on the columns. The worklist's
// search box uses the same keys (group and pinyin prefixes).
//
// Other keys are matched against the level's DICOM JSON (json_each over the attribute's
// values) when the index keeps the attribute (store.LevelOf) and its dictionary VR is a
// text VR (AE AS CS DA DT LO LT PN SH ST TM UC UI UR UT, same rules as above; PN there is
// case-insensitive but not fuzzy) or a numeric one (IS DS US SS UL SL FL FD: equality). Sequences, binary VRs, attributes the index
// does not keep, derived attributes other than ModalitiesInStudy, and non-universal keys
// of a level below the one searched give an error wrapping store.ErrInvalid whose text says
// "unsupported matching key". (0008,0005) and (0008,0052) are ignored as keys.
package sqlite
