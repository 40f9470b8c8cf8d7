-- The county's AE table (reading.Peer): every DICOM application entity pacsd knows, with
-- where it listens, where it may call from and what it may do. It is the one registry of AE
-- titles: a site's AE titles are the titles of the peers that belong to it, so site_aes
-- goes and its rows become store-only peers of their sites.
CREATE TABLE peers (
	id           INTEGER PRIMARY KEY,
	ae           TEXT NOT NULL UNIQUE,
	description  TEXT NOT NULL DEFAULT '',
	host         TEXT NOT NULL DEFAULT '',
	port         INTEGER NOT NULL DEFAULT 0,
	-- NULL: the county's own (workstations, destinations). A site's peers go with it, as
	-- its AE titles did.
	site_id      INTEGER REFERENCES sites (id) ON DELETE CASCADE,
	require_tls  INTEGER NOT NULL DEFAULT 0,
	may_store    INTEGER NOT NULL DEFAULT 0,
	may_query    INTEGER NOT NULL DEFAULT 0,
	may_retrieve INTEGER NOT NULL DEFAULT 0,
	destination  INTEGER NOT NULL DEFAULT 0,
	updated_at   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX peers_site ON peers (site_id);
-- The addresses (IP or CIDR prefix) a peer may call from; none: any.
CREATE TABLE peer_addresses (
	peer_id INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
	address TEXT NOT NULL,
	PRIMARY KEY (peer_id, address)
) WITHOUT ROWID;

INSERT INTO peers (ae, site_id, may_store) SELECT ae, site_id, 1 FROM site_aes ORDER BY site_id, ae;

-- Quarantine: a study with objects from an unknown sender held under --unknown-ae=quarantine
-- is seen only by administrators until one assigns it to a site. The assignment is kept
-- (assigned_site) and wins over the registry when studies are attributed again.
ALTER TABLE reading_studies ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reading_studies ADD COLUMN assigned_site INTEGER REFERENCES sites (id) ON DELETE SET NULL;
CREATE INDEX reading_studies_quarantined ON reading_studies (received_at DESC, study_pk DESC) WHERE quarantined = 1;

-- The triggers of 0003 attributed studies through site_aes: the same, through peers.
DROP TRIGGER reading_studies_insert;
DROP TRIGGER reading_studies_move;
DROP TABLE site_aes;

CREATE TRIGGER reading_studies_insert AFTER INSERT ON instances BEGIN
	INSERT INTO reading_studies (study_pk, study_uid, calling_ae, received_at, site_id, status, final_at)
	SELECT st.id, st.study_uid, NEW.calling_ae, NEW.received_at,
		COALESCE((SELECT site_id FROM peers WHERE ae = NEW.calling_ae AND NEW.calling_ae <> ''),
			(SELECT site_id FROM site_institutions WHERE name = st.institution_name AND st.institution_name <> '')),
		COALESCE((SELECT r.status FROM reports r WHERE r.study_uid = st.study_uid AND r.status <> 'draft'
				ORDER BY r.version DESC LIMIT 1),
			(SELECT 'draft' FROM reports r WHERE r.study_uid = st.study_uid LIMIT 1), 'unread'),
		COALESCE((SELECT signed_at FROM reports r WHERE r.study_uid = st.study_uid AND r.version = 1 AND r.status <> 'draft'), '')
	FROM series se JOIN studies st ON st.id = se.study_pk
	WHERE se.id = NEW.series_pk AND NOT EXISTS (SELECT 1 FROM reading_studies WHERE study_pk = st.id);
	-- A study whose first object came without a calling AE (STOW-RS) takes the first one
	-- that has one.
	UPDATE reading_studies SET calling_ae = NEW.calling_ae,
		site_id = COALESCE(assigned_site, (SELECT site_id FROM peers WHERE ae = NEW.calling_ae), site_id)
	WHERE NEW.calling_ae <> '' AND calling_ae = ''
		AND study_pk = (SELECT study_pk FROM series WHERE id = NEW.series_pk);
END;

CREATE TRIGGER reading_studies_move AFTER UPDATE OF series_pk ON instances BEGIN
	INSERT INTO reading_studies (study_pk, study_uid, calling_ae, received_at, site_id)
	SELECT st.id, st.study_uid, NEW.calling_ae, NEW.received_at,
		COALESCE((SELECT site_id FROM peers WHERE ae = NEW.calling_ae AND NEW.calling_ae <> ''),
			(SELECT site_id FROM site_institutions WHERE name = st.institution_name AND st.institution_name <> ''))
	FROM series se JOIN studies st ON st.id = se.study_pk
	WHERE se.id = NEW.series_pk AND NOT EXISTS (SELECT 1 FROM reading_studies WHERE study_pk = st.id);
END;
