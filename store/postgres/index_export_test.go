package postgres

import "database/sql"

// DB is the index's connection pool, for the external tests' setup and plans.
func (x *Index) DB() *sql.DB { return x.db }

// BuildSearch is buildSearch, for the plan tests.
var BuildSearch = buildSearch
