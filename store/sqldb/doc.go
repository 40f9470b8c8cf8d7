// Package sqldb holds what the SQL implementations of the index and the reading room's
// repositories (store/sqlite, store/postgres) share, so that each rule is written once:
// the text form of times, the running of numbered migrations, the helpers that run a query
// and scan its rows, and (in files named for their area) the derivation of index columns
// and name keys and the row decoders of each record. SQL that differs between the two
// engines stays in their packages; everything above it lives here.
package sqldb
