-- An audit row may stand for several identical looks (audit.Event.Count): the Recorder folds
-- exact repeats that arrive within its fold window (a viewer repeating or polling one search)
-- into one row at the first one's time. Rows written before are one look each.
ALTER TABLE audit_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
