-- Scheduled procedures (登记, reading.Order): what the Modality Worklist SCP answers
-- (PS3.4 Annex K). Dates and times are DICOM strings in the county's time zone, as the
-- modality shows them; the indexes serve the worklist's keys (station AE, modality,
-- scheduled date, patient ID, accession number).
CREATE TABLE orders (
	id                     INTEGER PRIMARY KEY,
	site_id                INTEGER NOT NULL DEFAULT 0, -- 0: the county's own
	patient_id             TEXT NOT NULL,
	patient_name           TEXT NOT NULL,              -- PN, groups '='-joined
	patient_sex            TEXT NOT NULL DEFAULT '',
	birth_date             TEXT NOT NULL DEFAULT '',
	accession              TEXT NOT NULL UNIQUE,
	requested_procedure_id TEXT NOT NULL DEFAULT '',
	requested_procedure    TEXT NOT NULL DEFAULT '',
	procedure_code         TEXT NOT NULL DEFAULT '',
	modality               TEXT NOT NULL,
	station_ae             TEXT NOT NULL,
	scheduled_date         TEXT NOT NULL,
	scheduled_time         TEXT NOT NULL DEFAULT '',
	performing_physician   TEXT NOT NULL DEFAULT '',
	study_uid              TEXT NOT NULL UNIQUE,
	status                 TEXT NOT NULL DEFAULT 'scheduled',
	image_study_uid        TEXT NOT NULL DEFAULT '',
	created_by             TEXT NOT NULL DEFAULT '',
	created_at             TEXT NOT NULL,
	updated_at             TEXT NOT NULL
);
CREATE INDEX orders_station ON orders (station_ae, scheduled_date, scheduled_time);
CREATE INDEX orders_modality ON orders (modality, scheduled_date, scheduled_time);
CREATE INDEX orders_date ON orders (scheduled_date, scheduled_time);
CREATE INDEX orders_site ON orders (site_id, scheduled_date, scheduled_time);
CREATE INDEX orders_patient ON orders (patient_id);

-- When a study's first object arrives (its reading_studies row is made, migration 0003),
-- it is tied to its open order: the one whose Study Instance UID the modality took from
-- the worklist, else the one with its accession number, else the patient's order on the
-- study's date for one of its modalities or its description, from the same site. The
-- order is then done.
CREATE TRIGGER orders_tie AFTER INSERT ON reading_studies BEGIN
	UPDATE orders SET status = 'done', image_study_uid = NEW.study_uid, updated_at = NEW.received_at
	WHERE id = COALESCE(
		(SELECT o.id FROM orders o WHERE o.study_uid = NEW.study_uid AND o.status IN ('scheduled', 'arrived')),
		(SELECT o.id FROM orders o JOIN studies st ON st.id = NEW.study_pk
			WHERE st.accession_number <> '' AND o.accession = st.accession_number
				AND o.status IN ('scheduled', 'arrived')),
		(SELECT o.id FROM orders o JOIN studies st ON st.id = NEW.study_pk
			WHERE st.patient_id <> '' AND o.patient_id = st.patient_id AND o.scheduled_date = st.study_date
				AND o.status IN ('scheduled', 'arrived')
				AND (NEW.site_id IS NULL OR o.site_id = 0 OR o.site_id = NEW.site_id)
				AND (o.requested_procedure = st.study_description
					OR EXISTS (SELECT 1 FROM series se WHERE se.study_pk = st.id AND se.modality = o.modality))
			ORDER BY o.scheduled_time, o.id LIMIT 1));
END;
