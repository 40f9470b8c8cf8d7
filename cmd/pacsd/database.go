package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"

	"pacsd/forward"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/postgres"
	"pacsd/store/sqlite"
)

// databaseConfig says where the records behind the archive live: the data dir's SQLite
// file (the default: one server), or a PostgreSQL database that several pacsd nodes share.
type databaseConfig struct {
	url string // "" = index.db in the data dir; postgres://... = PostgreSQL
}

func (c *databaseConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "database", "", "where the index and the reading room's records are: \"\" = index.db in the data dir (SQLite); postgres://user@host:5432/db = PostgreSQL, shared by several pacsd nodes (password from PGPASSWORD or ~/.pgpass, never in this setting) (env PACSD_DATABASE)")
}

// database is the records behind the archive, on either engine: the index, the reading
// room's repositories, the forwarding queue and the HIS link's records.
type database struct {
	store.Index
	engine     string // "sqlite" or "postgres", for logs and /readyz
	reading    reading.Repository
	forwarding forward.Queue
	hl7        hl7Records
	// sqlite is the SQLite index when that is the engine (nil on PostgreSQL): what only
	// the embedded engine has (its audit database, its replica).
	sqlite *sqlite.Index
}

// openDatabase opens (creating and migrating when needed) the configured database.
func openDatabase(ctx context.Context, c databaseConfig, dataDir string) (*database, error) {
	if c.url != "" {
		if !postgres.IsURL(c.url) {
			return nil, fmt.Errorf("--database %q: want postgres://... (or nothing for the data dir's SQLite file)", redactURL(c.url))
		}
		return nil, fmt.Errorf("--database: PostgreSQL is not wired in yet")
	}
	idx, err := sqlite.Open(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	return &database{Index: idx, engine: "sqlite", reading: idx.Reading(), forwarding: idx.Forwarding(),
		hl7: idx.HL7(), sqlite: idx}, nil
}

// Close closes the database.
func (d *database) Close() error { return d.Index.Close() }

// redactURL is a database URL fit for a log or an error: without its password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unreadable URL)"
	}
	return u.Redacted()
}
