-- Small facts about the archive itself (which remote store holds its objects).
CREATE TABLE settings (
	key   text PRIMARY KEY,
	value text NOT NULL
);
