-- The worklist's second order (reading.OrderStudy): newest Study Date and Time first. The
-- study's date and time are kept on its reading row (study_at, the two values joined as
-- stored, so it sorts as text) so that this order has the same indexes as the order of
-- receipt: each filter walks one of them and stops at the page size.
ALTER TABLE reading_studies ADD COLUMN study_at TEXT NOT NULL DEFAULT '';
UPDATE reading_studies SET study_at = COALESCE(
	(SELECT st.study_date || st.study_time FROM studies st WHERE st.id = reading_studies.study_pk), '');
CREATE TRIGGER reading_studies_study_at AFTER INSERT ON reading_studies BEGIN
	UPDATE reading_studies SET study_at = COALESCE(
		(SELECT study_date || study_time FROM studies WHERE id = NEW.study_pk), '')
	WHERE study_pk = NEW.study_pk;
END;
-- A later object may correct the study's date or time (the newest values win).
CREATE TRIGGER studies_study_at AFTER UPDATE OF study_date, study_time ON studies BEGIN
	UPDATE reading_studies SET study_at = NEW.study_date || NEW.study_time
	WHERE study_pk = NEW.id AND study_at <> NEW.study_date || NEW.study_time;
END;
CREATE INDEX reading_studies_study_order ON reading_studies (study_at DESC, study_pk DESC);
CREATE INDEX reading_studies_site_study ON reading_studies (site_id, study_at DESC, study_pk DESC);
CREATE INDEX reading_studies_status_study ON reading_studies (status, study_at DESC, study_pk DESC);

-- Urgent studies nobody has started to read head the worklist in either order: they are
-- few, found through this index (and sorted, for the study order, as a handful of rows).
CREATE INDEX reading_studies_urgent_unread ON reading_studies (received_at DESC, study_pk DESC)
	WHERE urgent = 1 AND status = 'unread';
