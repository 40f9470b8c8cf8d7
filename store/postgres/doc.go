// Package postgres keeps pacsd's index and the reading room's records in a PostgreSQL
// database: what a regional platform with several pacsd nodes over one bucket uses instead
// of the embedded SQLite file (store/sqlite). It implements the same contracts
// (store.Index, reading.Repository, audit.Store, the forwarding queue and the HIS link's
// records) and passes the same suites (storetest.RunIndex, readingtest.Run), against a real
// server that the tests start themselves (internal/pgtest).
//
// The schema keeps SQLite's table and column names, and times as sqldb.TimeFormat text, so
// that both engines share their row decoders and rules (store/sqldb); the SQL is
// PostgreSQL's own (its types, upserts, expression indexes, plpgsql triggers) and every
// search a client can make is index-backed on it as on SQLite (plan tests).
//
// Migrations (migrations/NNNN_*.sql) are this package's own; they run in one transaction
// under an advisory lock, so that nodes starting at once do not race.
package postgres
