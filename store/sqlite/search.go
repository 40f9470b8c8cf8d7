package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/sqldb"
)

// query is a search's WHERE clause (sqldb.Where) with this engine's matching methods.
type query struct{ sqldb.Where }

// Search answers q from the index alone (see the package comment for the matching rules).
// Each level's attributes come back as stored, undecoded.
func (x *Index) Search(ctx context.Context, q store.Query) ([]store.Hit, error) {
	return sqldb.RunSearch(ctx, x.stmts.on(x.r), dbErr, q, buildSearch)
}

// buildSearch turns a query into SQL and its arguments.
func buildSearch(q store.Query) (string, []any, error) {
	if q.Level < store.LevelPatient || q.Level > store.LevelInstance {
		return "", nil, fmt.Errorf("unknown level %d: %w", q.Level, store.ErrInvalid)
	}
	if q.Limit < 0 || q.Offset < 0 {
		return "", nil, fmt.Errorf("negative limit or offset: %w", store.ErrInvalid)
	}
	w, err := searchWhere(q)
	if err != nil {
		return "", nil, err
	}
	if q.Level == store.LevelPatient {
		return buildPatientSearch(q, w)
	}
	return finishSearch(q, w)
}

// searchWhere is the WHERE clause of a query (sqldb.SearchWhere) in this engine's SQL.
func searchWhere(q store.Query) (query, error) {
	w, err := sqldb.SearchWhere(q, dialect{})
	return query{w}, err
}

// dialect is this engine's search SQL (sqldb.SearchDialect).
type dialect struct{}

// Scope adds the conditions of what the asker may see (store.Query.SiteID, WithQuarantined).
func (dialect) Scope(w *sqldb.Where, q store.Query) {
	if q.SiteID != 0 {
		// The reading room's assignment of studies to sites; its primary key is the study's.
		w.Add("EXISTS (SELECT 1 FROM reading_studies rs WHERE rs.study_pk = s.id AND rs.site_id = ?)", q.SiteID)
	}
	if !q.WithQuarantined {
		// Studies from an unknown sender held in quarantine (0009_peers.sql) are for
		// administrators only. The set is read once from its partial index (usually
		// empty), not looked up in reading_studies for each study: a name search that
		// finds hundreds of studies would read most of that table's pages, which the
		// readers' cache loses whenever the index is written (an audit event, a new
		// object). study_pk is never NULL, so NOT IN means what it says.
		w.Add("s.id NOT IN (SELECT rq.study_pk FROM reading_studies rq WHERE rq.quarantined = 1)")
	}
}

func (dialect) NameSet(attr int, v string, fuzzy bool) (string, []any, bool, bool) {
	return nameSet(attr, v, fuzzy)
}

func (dialect) PNCond(ck sqldb.ColKey, v string, fuzzy bool) (string, []any, error) {
	return pnCond(ck.Col, ck.Groups, ck.Fuzzy, v, fuzzy)
}

func (dialect) ValuesCond(t dicom.Tag, k sqldb.Kind, col, v string) (string, []any, error) {
	return valuesCond(t, k, col, v)
}

// JSONMatch matches a key the index keeps only in the level's DICOM JSON: any of the
// attribute's values (json_each) must match.
func (dialect) JSONMatch(kl store.Level, k sqldb.Kind, t dicom.Tag, v string) (string, []any, error) {
	// The tag's hex digits are safe to splice into the JSON path.
	src := fmt.Sprintf(`json_each(%s.attrs, '$."%s".Value') j`, sqldb.LevelAlias[kl], t.Hex())
	var (
		cond string
		args []any
		err  error
	)
	if k == sqldb.KPN {
		groups := [3]string{"json_extract(j.value, '$.Alphabetic')", "json_extract(j.value, '$.Ideographic')",
			"json_extract(j.value, '$.Phonetic')"}
		full := `rtrim(coalesce(json_extract(j.value, '$.Alphabetic'), '') || '=' ||
			coalesce(json_extract(j.value, '$.Ideographic'), '') || '=' ||
			coalesce(json_extract(j.value, '$.Phonetic'), ''), '=')`
		// Fuzzy matching needs the folded-words column; without one the key is matched
		// literally (PS3.18 8.3.4.5 lets an origin server do so).
		cond, args, err = pnCondCollate(full, groups, "", v, false, " COLLATE NOCASE")
	} else {
		cond, args, err = valuesCond(t, k, "j.value", v)
	}
	if err != nil {
		return "", nil, err
	}
	return "EXISTS (SELECT 1 FROM " + src + " WHERE " + cond + ")", args, nil
}

// finishSearch is the study, series or instance search with its WHERE clause
// (sqldb.Where.Select; CROSS JOIN keeps SQLite from walking studies_order instead of
// starting from a name's studies, which it may prefer once it has statistics).
func finishSearch(q store.Query, w query) (string, []any, error) {
	sqlText, args := w.Select(q.Level, "CROSS JOIN")
	limit := -1 // SQLite: no limit
	if q.Limit > 0 {
		limit = q.Limit
	}
	return sqlText + " LIMIT ? OFFSET ?", append(args, limit, q.Offset), nil
}

// valuesCond is the condition for a possibly '\'-separated value on a non-PN column
// (sqldb.ValuesCond): any of the values matches.
func valuesCond(t dicom.Tag, k sqldb.Kind, col, v string) (string, []any, error) {
	return sqldb.ValuesCond(t, k, col, v, valueSQL)
}

// valueSQL is this engine's conditions of values.
var valueSQL = sqldb.ValueSQL{
	True: "1",
	AnyUID: func(col string, uids []string) (string, []any) {
		args := make([]any, len(uids))
		for i, u := range uids {
			args[i] = u
		}
		return col + " IN (?" + strings.Repeat(",?", len(args)-1) + ")", args
	},
	One: valueCond,
}

func valueCond(k sqldb.Kind, col, v string) (string, []any, error) {
	switch k {
	case sqldb.KText:
		if strings.ContainsAny(v, "*?") {
			return col + " GLOB ?", []any{globPattern(v)}, nil
		}
		return col + " = ?", []any{v}, nil
	case sqldb.KInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", nil, fmt.Errorf("%q is not an integer: %w", v, store.ErrInvalid)
		}
		return col + " = ?", []any{n}, nil
	case sqldb.KNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return "", nil, fmt.Errorf("%q is not a number: %w", v, store.ErrInvalid)
		}
		return col + " = ?", []any{f}, nil
	case sqldb.KDate, sqldb.KTime, sqldb.KDateTime:
		return sqldb.RangeCond(k, col, v)
	}
	return "", nil, fmt.Errorf("kind %d: %w", k, store.ErrInvalid)
}

// pnCond matches a PN key on its columns (see the package comment).
func pnCond(full string, groups [3]string, fuzzyCol, v string, fuzzy bool) (string, []any, error) {
	return pnCondCollate(full, groups, fuzzyCol, v, fuzzy, "")
}

// pnCondCollate is pnCond with a collation appended to '=' comparisons, for expressions
// that, unlike the NOCASE columns, do not carry one.
func pnCondCollate(full string, groups [3]string, fuzzyCol, v string, fuzzy bool, collate string) (string, []any, error) {
	var alts []string
	var args []any
	for _, one := range strings.Split(v, `\`) {
		one = strings.TrimSpace(one)
		if one == "" || one == "*" {
			return "1", nil, nil
		}
		if fuzzy && fuzzyCol != "" {
			words := splitWords(fold(one))
			var conds []string
			for _, wd := range words {
				conds = append(conds, fuzzyCol+` LIKE ? ESCAPE '\'`)
				args = append(args, "%^"+sqldb.LikePattern(wd)+"%")
			}
			if len(conds) == 0 {
				return "1", nil, nil
			}
			alts = append(alts, "("+strings.Join(conds, " AND ")+")")
			continue
		}
		if strings.Contains(one, "=") {
			p := dicom.ParsePersonName(one)
			if !strings.ContainsAny(one, "*?") {
				p = normPN(p)
			}
			c, a := pnTerm(full, p.String(), collate)
			alts = append(alts, c)
			args = append(args, a...)
			continue
		}
		if !strings.ContainsAny(one, "*?") {
			one = strings.TrimRight(one, "^ ")
		}
		var conds []string
		for _, g := range groups {
			c, a := pnTerm(g, one, collate)
			conds = append(conds, c)
			args = append(args, a...)
		}
		alts = append(alts, "("+strings.Join(conds, " OR ")+")")
	}
	if len(alts) == 1 {
		return alts[0], args, nil
	}
	return "(" + strings.Join(alts, " OR ") + ")", args, nil
}

// pnTerm compares one PN column or expression with one value, ignoring ASCII case: LIKE
// ignores it by default and the PN columns are COLLATE NOCASE, so both can use an index.
func pnTerm(col, v, collate string) (string, []any) {
	if strings.ContainsAny(v, "*?") {
		return col + ` LIKE ? ESCAPE '\'`, []any{sqldb.LikePattern(v)}
	}
	return col + " = ?" + collate, []any{v}
}

// globPattern turns a DICOM wildcard value into a GLOB pattern: '*' and '?' mean the same
// there; '[' is the only other metacharacter and is escaped as a one-character class.
func globPattern(v string) string {
	return strings.ReplaceAll(v, "[", "[[]")
}

// maxCachedStmts bounds the prepared searches kept. A search's SQL text depends only on its
// shape (which keys, how many values, the level), not on the values, so a few dozen shapes
// cover what QIDO-RS, C-FIND and the reading room ask; shapes beyond the bound are
// prepared for each call, as before.
const maxCachedStmts = 256

// stmtCache keeps searches prepared by SQL text: preparing is a large part of a selective
// search's time (the SQL of a name search is long). database/sql prepares a cached
// statement again on each pooled connection that runs it, once.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

// query runs sqlText with args on db through a cached statement.
func (c *stmtCache) query(ctx context.Context, db *sql.DB, sqlText string, args ...any) (*sql.Rows, error) {
	c.mu.Lock()
	st := c.m[sqlText]
	full := c.closed || len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if st == nil && full {
		return db.QueryContext(ctx, sqlText, args...)
	}
	if st == nil {
		prepared, err := db.PrepareContext(ctx, sqlText)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			prepared.Close()
			return db.QueryContext(ctx, sqlText, args...)
		case c.m[sqlText] != nil: // prepared meanwhile by another search
			prepared.Close()
		default:
			if c.m == nil {
				c.m = map[string]*sql.Stmt{}
			}
			c.m[sqlText] = prepared
		}
		st = c.m[sqlText]
		c.mu.Unlock()
	}
	// Statements are closed only by close, after which queries fail anyway (the pool is
	// closed with them).
	return st.QueryContext(ctx, args...)
}

// on is the cache as a sqldb.Queryer on db.
func (c *stmtCache) on(db *sql.DB) sqldb.Queryer { return cachedQueryer{c, db} }

type cachedQueryer struct {
	c  *stmtCache
	db *sql.DB
}

func (q cachedQueryer) QueryContext(ctx context.Context, sqlText string, args ...any) (*sql.Rows, error) {
	return q.c.query(ctx, q.db, sqlText, args...)
}

// QueryRowContext is not cached: the searches read rows.
func (q cachedQueryer) QueryRowContext(ctx context.Context, sqlText string, args ...any) *sql.Row {
	return q.db.QueryRowContext(ctx, sqlText, args...)
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m, c.closed = nil, true
}
