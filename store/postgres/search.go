package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/sqldb"
)

// Search on PostgreSQL: the matching rules of store/sqlite's package comment (the keys,
// kinds and value parsing are store/sqldb's), in PostgreSQL's SQL. Differences that do not
// change a result: case-sensitive text wildcards are LIKE on COLLATE "C" columns (SQLite:
// GLOB); PN comparisons fold ASCII letters with ascii_lower (SQLite: NOCASE) and name keys
// are stored folded; a literal prefix of a wildcard value also becomes a range on the
// column (prefixRange), so that the index serves it under a generic plan as well.

// query is a search's WHERE clause (sqldb.Where) with this engine's matching methods.
type query struct{ sqldb.Where }

// Search answers q from the index alone. Each level's attributes come back as stored.
func (x *Index) Search(ctx context.Context, q store.Query) ([]store.Hit, error) {
	return sqldb.RunSearch(ctx, x.db, dbErr, q, buildSearch)
}

// buildSearch turns a query into SQL ($n placeholders) and its arguments.
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
	var (
		sqlText string
		args    []any
	)
	if q.Level == store.LevelPatient {
		sqlText, args, err = buildPatientSearch(q, w)
	} else {
		sqlText, args = finishSearch(q, w)
	}
	if err != nil {
		return "", nil, err
	}
	return dollar(sqlText), args, nil
}

// searchWhere is the WHERE clause of a query (sqldb.SearchWhere) in this engine's SQL.
func searchWhere(q store.Query) (query, error) {
	w, err := sqldb.SearchWhere(q, dialect{})
	return query{w}, err
}

// dialect is this engine's search SQL (sqldb.SearchDialect).
type dialect struct{}

// Scope adds the conditions of what the asker may see (store.Query.SiteID, WithQuarantined):
// the reading room's assignment of studies to sites and its quarantine (reading_studies,
// whose primary key is the study's).
func (dialect) Scope(w *sqldb.Where, q store.Query) {
	if q.SiteID != 0 {
		w.Add("EXISTS (SELECT 1 FROM reading_studies rs WHERE rs.study_pk = s.id AND rs.site_id = ?)", q.SiteID)
	}
	if !q.WithQuarantined {
		// Studies from an unknown sender held in quarantine are for administrators only.
		// NOT EXISTS rather than SQLite's NOT IN: PostgreSQL plans it as an anti-join
		// (probing reading_studies by its primary key for the studies a name search found),
		// where NOT IN's hashed subplan filter leads it to scan the studies.
		w.Add("NOT EXISTS (SELECT 1 FROM reading_studies rq WHERE rq.study_pk = s.id AND " + quarantinedCond + ")")
	}
}

func (dialect) NameSet(attr int, v string, fuzzy bool) (string, []any, bool, bool) {
	return nameSet(attr, v, fuzzy)
}

// PNCond matches on the columns; fuzzy matching needs the name keys (NameSet), so a value
// the columns must answer is matched literally.
func (dialect) PNCond(ck sqldb.ColKey, v string, _ bool) (string, []any, error) {
	cond, args := pnCond(ck.Col, ck.Groups, v)
	return cond, args, nil
}

func (dialect) ValuesCond(t dicom.Tag, k sqldb.Kind, col, v string) (string, []any, error) {
	return valuesCond(t, k, col, v)
}

// JSONMatch matches a key the index keeps only in the level's DICOM JSON: any of the
// attribute's values must match.
func (dialect) JSONMatch(kl store.Level, k sqldb.Kind, t dicom.Tag, v string) (string, []any, error) {
	// The tag's hex digits are safe to splice into the SQL.
	src := fmt.Sprintf(`jsonb_array_elements((%s.attrs::jsonb) -> '%s' -> 'Value') j (value)`, sqldb.LevelAlias[kl], t.Hex())
	var (
		cond string
		args []any
		err  error
	)
	switch k {
	case sqldb.KPN:
		group := func(g string) string { return "(j.value ->> '" + g + "')" }
		groups := [3]string{group("Alphabetic"), group("Ideographic"), group("Phonetic")}
		full := `rtrim(coalesce(j.value ->> 'Alphabetic', '') || '=' || coalesce(j.value ->> 'Ideographic', '') ||
			'=' || coalesce(j.value ->> 'Phonetic', ''), '=')`
		// Fuzzy matching needs name keys; without them the key is matched literally
		// (PS3.18 8.3.4.5 lets an origin server do so).
		cond, args = pnCond(full, groups, v)
	case sqldb.KInt, sqldb.KNumber:
		// Only JSON numbers equal a number (as in SQLite, where a string never does).
		cond, args, err = valuesCond(t, k, "(CASE WHEN jsonb_typeof(j.value) = 'number' THEN j.value::numeric END)", v)
	default:
		cond, args, err = valuesCond(t, k, "(j.value #>> '{}')", v)
	}
	if err != nil {
		return "", nil, err
	}
	return "EXISTS (SELECT 1 FROM " + src + " WHERE " + cond + ")", args, nil
}

// finishSearch is the study, series or instance search with its WHERE clause
// (sqldb.Where.Select).
func finishSearch(q store.Query, w query) (string, []any) {
	sqlText, args := w.Select(q.Level, "JOIN")
	if q.Limit > 0 {
		sqlText += " LIMIT ?"
		args = append(args, q.Limit)
	}
	if q.Offset > 0 {
		sqlText += " OFFSET ?"
		args = append(args, q.Offset)
	}
	return sqlText, args
}

// valuesCond is the condition for a possibly '\'-separated value on a non-PN column
// (sqldb.ValuesCond): any of the values matches.
func valuesCond(t dicom.Tag, k sqldb.Kind, col, v string) (string, []any, error) {
	return sqldb.ValuesCond(t, k, col, v, valueSQL)
}

// valueSQL is this engine's conditions of values.
var valueSQL = sqldb.ValueSQL{
	True:   "true",
	AnyUID: func(col string, uids []string) (string, []any) { return col + " = ANY (?)", []any{uids} },
	One:    valueCond,
}

func valueCond(k sqldb.Kind, col, v string) (string, []any, error) {
	switch k {
	case sqldb.KText:
		if strings.ContainsAny(v, "*?") {
			c, a := likeCond(col, sqldb.LikePattern(v))
			return c, a, nil
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
		return col + " = ?", []any{strconv.FormatFloat(f, 'g', -1, 64)}, nil
	case sqldb.KDate, sqldb.KTime, sqldb.KDateTime:
		return sqldb.RangeCond(k, col, v)
	}
	return "", nil, fmt.Errorf("kind %d: %w", k, store.ErrInvalid)
}

// likeCond is col LIKE pattern ('\' escapes), with the range of the pattern's literal
// prefix (prefixRange) when it has one.
func likeCond(col, pattern string) (string, []any) {
	cond, args := col+` LIKE ? ESCAPE '\'`, []any{pattern}
	if lo, hi, ok := prefixRange(pattern); ok {
		cond = "(" + col + " >= ? AND " + col + " < ? AND " + cond + ")"
		args = []any{lo, hi, pattern}
	}
	return cond, args
}

// prefixRange is the range of the text that starts with the literal prefix of a LIKE
// pattern, in byte order (COLLATE "C"): from the prefix to the prefix followed by the
// greatest code point. PostgreSQL derives such a range itself for a pattern it knows
// when planning; spelling it out keeps the index in use for a prepared statement's
// generic plan too. (Text continuing the prefix with U+10FFFF itself, a noncharacter's
// neighbour no name holds, would fall outside.)
func prefixRange(pattern string) (lo, hi string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c == '%' || c == '_' {
			break
		}
		if c == '\\' && i+1 < len(pattern) {
			i++
			c = pattern[i]
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "", "", false
	}
	lo = b.String()
	return lo, lo + string(utf8.MaxRune), true
}

// pnCond matches a PN value on a name's columns (or JSON expressions), ignoring the case
// of ASCII letters: a value with '=' against the whole name, any other against each group.
func pnCond(full string, groups [3]string, v string) (string, []any) {
	var alts []string
	var args []any
	for _, one := range strings.Split(v, `\`) {
		one = strings.TrimSpace(one)
		if one == "" || one == "*" {
			return "true", nil
		}
		if strings.Contains(one, "=") {
			p := dicom.ParsePersonName(one)
			if !strings.ContainsAny(one, "*?") {
				p = sqldb.NormPN(p)
			}
			c, a := pnTerm(full, p.String())
			alts = append(alts, c)
			args = append(args, a...)
			continue
		}
		if !strings.ContainsAny(one, "*?") {
			one = strings.TrimRight(one, "^ ")
		}
		var conds []string
		for _, g := range groups {
			c, a := pnTerm(g, one)
			conds = append(conds, c)
			args = append(args, a...)
		}
		alts = append(alts, "("+strings.Join(conds, " OR ")+")")
	}
	if len(alts) == 1 {
		return alts[0], args
	}
	return "(" + strings.Join(alts, " OR ") + ")", args
}

// pnTerm compares one PN column or expression with one value, ignoring ASCII case.
func pnTerm(col, v string) (string, []any) {
	if strings.ContainsAny(v, "*?") {
		return "ascii_lower(" + col + `) LIKE ? ESCAPE '\'`, []any{sqldb.FoldKey(sqldb.LikePattern(v))}
	}
	return "ascii_lower(" + col + ") = ?", []any{sqldb.FoldKey(v)}
}

// quarantinedCond selects the quarantined rows of reading_studies (aliased rq), as its
// partial index does.
const quarantinedCond = "rq.quarantined = 1"
