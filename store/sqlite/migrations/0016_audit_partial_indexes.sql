-- The audit trail's filter indexes hold only the events that have a value in their column:
-- most events name no AE title (every HTTP request), and a search names no patient or
-- study, so a full index would spend a write on an empty key for nearly every event. The
-- searches say `col <> ''` beside `col = ?` so that the planner may use them.
DROP INDEX audit_events_patient;
DROP INDEX audit_events_study;
DROP INDEX audit_events_user;
DROP INDEX audit_events_ae;
CREATE INDEX audit_events_patient ON audit_events (patient_id, time) WHERE patient_id <> '';
CREATE INDEX audit_events_study ON audit_events (study_uid, time) WHERE study_uid <> '';
CREATE INDEX audit_events_user ON audit_events (user_name, time) WHERE user_name <> '';
CREATE INDEX audit_events_ae ON audit_events (ae_title, time) WHERE ae_title <> '';
