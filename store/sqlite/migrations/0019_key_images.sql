-- A study's key images (reading.KeyImages): one row per study holding the current set as
-- JSON (the array of reading.KeyImage, in the order marked), since it is always read and
-- written whole. revision guards against lost updates; object_uid is the Key Object
-- Selection document stored for this revision ('' when the set is empty), series_uid the
-- series all of the study's key object documents share. Earlier documents stay in the
-- archive. The priors (reading.Priors) need no table: they are index searches of studies
-- by Patient ID (studies_patient_id) and of study_names by name key.
CREATE TABLE key_image_sets (
	study_uid  TEXT PRIMARY KEY,
	revision   INTEGER NOT NULL,
	images     TEXT NOT NULL,
	object_uid TEXT NOT NULL DEFAULT '',
	series_uid TEXT NOT NULL DEFAULT '',
	updated_at TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
