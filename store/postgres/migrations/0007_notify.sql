-- Live worklists across nodes: a change of a study's instances (a new instance, a new
-- version, a restore, a deletion) NOTIFYs the channel pacsd_stored with the study's UID.
-- PostgreSQL delivers it when the transaction commits, to every node LISTENing
-- (Index.Listen), and folds identical notifications of one transaction into one. The
-- upload and eviction flags (MarkUploaded, MarkEvicted) change nothing a worklist shows
-- and notify nothing.
CREATE FUNCTION notify_instances_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		PERFORM pg_notify('pacsd_stored', s.study_uid)
			FROM series se JOIN studies s ON s.id = se.study_pk WHERE se.id = OLD.series_pk;
	END IF;
	IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.series_pk <> OLD.series_pk) THEN
		PERFORM pg_notify('pacsd_stored', s.study_uid)
			FROM series se JOIN studies s ON s.id = se.study_pk WHERE se.id = NEW.series_pk;
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER instances_notify_insert AFTER INSERT ON instances
	FOR EACH ROW EXECUTE FUNCTION notify_instances_changed();
-- A replacement writes a new blob key and received time; MarkUploaded and MarkEvicted
-- write neither.
CREATE TRIGGER instances_notify_update AFTER UPDATE ON instances
	FOR EACH ROW WHEN (OLD.blob_key IS DISTINCT FROM NEW.blob_key
		OR OLD.received_at IS DISTINCT FROM NEW.received_at
		OR OLD.series_pk IS DISTINCT FROM NEW.series_pk)
	EXECUTE FUNCTION notify_instances_changed();
CREATE TRIGGER instances_notify_delete AFTER DELETE ON instances
	FOR EACH ROW EXECUTE FUNCTION notify_instances_changed();
