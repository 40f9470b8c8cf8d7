package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
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
	// cluster: this node shares its database and bucket with other pacsd nodes (each with
	// its own data dir): objects are written through to the bucket before they are
	// acknowledged, and stores made by other nodes reach the live worklists.
	cluster bool
}

func (c *databaseConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "database", "", "where the index and the reading room's records are: \"\" = index.db in the data dir (SQLite); postgres://user@host:5432/db = PostgreSQL (password from PGPASSWORD or ~/.pgpass, never in this setting) (env PACSD_DATABASE)")
	fs.BoolVar(&c.cluster, "cluster", false, "this node shares --database (PostgreSQL) and the S3 bucket with other pacsd nodes: each object is in the bucket before it is acknowledged, so every node serves it at once")
}

// check refuses settings that cannot work: a cluster needs a shared database and bucket.
func (c databaseConfig) check(s3Endpoint string) error {
	if c.url != "" && !postgres.IsURL(c.url) {
		return fmt.Errorf("--database %q: want postgres://... (or nothing for the data dir's SQLite file)", redactURL(c.url))
	}
	if c.cluster && (c.url == "" || s3Endpoint == "") {
		return fmt.Errorf("--cluster needs --database postgres://... and --s3-endpoint: the nodes share both")
	}
	return nil
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
	// pg is the PostgreSQL index when that is the engine: its audit trail and the
	// notifications of other nodes' stores.
	pg *postgres.Index
}

// openDatabase opens (creating and migrating when needed) the configured database.
func openDatabase(ctx context.Context, c databaseConfig, dataDir string) (*database, error) {
	if c.url != "" {
		if !postgres.IsURL(c.url) {
			return nil, fmt.Errorf("--database %q: want postgres://... (or nothing for the data dir's SQLite file)", redactURL(c.url))
		}
		x, err := postgres.Open(ctx, c.url)
		if err != nil {
			// pgx's errors name the host and user, never the password.
			return nil, fmt.Errorf("open index on %s: %w", redactURL(c.url), err)
		}
		return &database{Index: x, engine: "postgres", reading: x.Reading(), forwarding: x.Forwarding(),
			hl7: x.HL7(), pg: x}, nil
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

// nodeName names this node to the others sharing the database (the forwarding queue's
// lease owner): the host and the DIMSE port, stable across restarts (a restarted node
// takes its own leases back at once) and distinct for two nodes on one host.
func nodeName(dicomAddr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "pacsd"
	}
	if _, port, err := net.SplitHostPort(dicomAddr); err == nil && port != "" {
		return host + ":" + port
	}
	return host
}
